"""``portcullis stdio``: the gateway as a stdio MCP server, for clients that spawn their servers.

The stdio front is a bridge from newline-delimited JSON-RPC on stdin/stdout to the gateway's
own streamable HTTP endpoint: the same gateway in this process on a private Unix socket
(:mod:`.local`), or a remote one over HTTP (the thin mode, ``--url``). Every message therefore
takes the one path an HTTP client's takes (authentication, policies, plugins, guardrails), and
the bridge (:mod:`.bridge`) needs to know no MCP beyond the wire.
"""
