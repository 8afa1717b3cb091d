"""``portcullis install | uninstall CLIENT``: point an MCP client's own configuration at the gateway.

Each client keeps its MCP servers in a JSON file of its own shape (``clients``); the file is edited as
text so that everything we do not own survives byte for byte, comments included (``config_files``);
what is written is shown as a diff first, backed up once and replaced atomically (``writing``).
"""
