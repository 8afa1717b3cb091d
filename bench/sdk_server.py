"""A typical Python MCP server, written the way the ``mcp`` SDK's README shows, and run the way
its users run it: ``server.run("stdio")`` or ``server.run("streamable-http", port=...)`` (SSE
answers, stateful sessions, uvicorn with its defaults).

Tools: ``echo(text)`` returns ``NAME:text``; ``add(a, b)``; ``big(size)`` returns ``size`` "x"
characters (built once per size, so the relay is what is measured).

Run: ``.venv/bin/python bench/sdk_server.py [--http PORT] [--name s1]`` (stdio without --http).
"""

from __future__ import annotations

import argparse
import functools

from mcp.server.mcpserver import MCPServer


@functools.lru_cache(maxsize=4)
def _text(size: int) -> str:
    return "x" * size


def build(name: str) -> MCPServer:
    server: MCPServer = MCPServer(f"sdk-{name}", log_level="WARNING")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text prefixed with this server's name."""
        return f"{name}:{text}"

    @server.tool()
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    async def big(size: int) -> str:
        """Return a string of ``size`` "x" characters."""
        return _text(max(0, min(size, 256 * 1024 * 1024)))

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="sdk")
    parser.add_argument("--http", type=int, metavar="PORT", help="streamable HTTP at /mcp")
    args = parser.parse_args()
    server = build(args.name)
    if args.http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", port=args.http)


if __name__ == "__main__":
    main()
