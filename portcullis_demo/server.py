"""Small example MCP server that Portcullis ships and starts by default.

It exists so that a fresh install has one real server behind the gateway with
nothing else installed: a client can connect, list and call tools, fetch a
prompt and read a resource straight away, and the operator can see the whole
path working before configuring any real upstream. It needs only the ``mcp``
SDK, which the gateway depends on anyway.

Run it with ``python -m portcullis_demo.server``; it speaks MCP over stdio.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mcp.server.mcpserver import MCPServer

README = """\
Portcullis demo server

This server ships with Portcullis so a fresh install has something real to
talk to. Try the tools echo, add, now and word_count, the prompt summarize,
or read this resource again at demo://readme. Replace it with your own
upstream servers in the gateway configuration.
"""

server: MCPServer = MCPServer(
    "portcullis-demo",
    instructions=("Demo server bundled with Portcullis: a few harmless tools, one prompt and one resource."),
)


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged, to check a round trip through the gateway."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers, to show typed arguments and results."""
    return a + b


@server.tool()
def now() -> str:
    """Return the current UTC time in ISO 8601, to show a result that changes."""
    return datetime.now(UTC).isoformat()


@server.tool()
def word_count(text: str) -> int:
    """Count the whitespace-separated words in the text."""
    return len(text.split())


@server.prompt()
def summarize(text: str) -> str:
    """Ask for a short summary of the text, to show a prompt with an argument."""
    return f"Summarize the following text in a few sentences:\n\n{text}"


@server.resource("demo://readme", name="readme", mime_type="text/plain")
def readme() -> str:
    """Describe this server and what to try, as a static resource."""
    return README


def main() -> None:
    """Serve the demo server over stdio."""
    server.run("stdio")


if __name__ == "__main__":
    main()
