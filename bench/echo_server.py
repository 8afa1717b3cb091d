"""The fastest handshake-era MCP server we can write, so that the gateway's own ceiling shows.

Raw ASGI on uvicorn (uvloop, httptools, no access log), orjson, no framework, one JSON answer
per POST, no validation beyond what routing needs. It speaks just enough streamable HTTP for a
client or the gateway: ``initialize`` (mints an ``Mcp-Session-Id``), notifications (202),
``ping``, ``tools/list`` and ``tools/call`` with two tools:

- ``echo(text)``: returns ``NAME:text``, like the SDK fixture server's ``echo``;
- ``big(size)``: returns a text of ``size`` bytes (the result is cached per size, so what is
  measured is the relay, not this server building 10 MB strings).

``--sse`` answers every request but initialize with one SSE event, as the ``mcp`` SDK's
servers do by default, to measure the gateway's SSE relay at full speed.

Run: ``.venv/bin/python bench/echo_server.py --port 8001 [--name s1]``.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

import orjson

Scope = dict[str, Any]

TOOLS = [
    {
        "name": "echo",
        "description": "Return the text prefixed with this server's name.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
    {
        "name": "big",
        "description": 'Return a text of `size` "x" characters.',
        "inputSchema": {
            "type": "object",
            "properties": {"size": {"type": "integer"}},
            "required": ["size"],
        },
    },
]
MAX_BIG = 256 * 1024 * 1024


class EchoServer:
    def __init__(self, name: str, *, sse: bool = False) -> None:
        self.name = name
        self.sse = sse
        self.big: dict[int, bytes] = {}
        self.tools_list = orjson.dumps({"tools": TOOLS})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            # No unsolicited messages here: "no GET stream" is what the spec's 405 means.
            await self._answer(send, 405, b"", [])
            return
        if scope["method"] == "DELETE":
            await self._answer(send, 204, b"", [])
            return
        body = b""
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            body += event.get("body", b"")
            more = event.get("more_body", False)
        message = orjson.loads(body)
        method = message.get("method")
        if "id" not in message or method is None:  # notifications and responses
            await self._answer(send, 202, b"", [])
            return
        headers: list[tuple[bytes, bytes]] = []
        if method == "initialize":
            headers.append((b"mcp-session-id", secrets.token_hex(16).encode()))
        payload = self.result(method, message.get("params") or {})
        if payload is None:
            error = {"code": -32601, "message": f"method {method!r} not found"}
            reply = orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error})
        else:
            # Splice the pre-serialized result in: no second pass over a 10 MB text.
            reply = b'{"jsonrpc":"2.0","id":' + orjson.dumps(message["id"]) + b',"result":' + payload + b"}"
        if self.sse and method != "initialize":
            # As the SDK's servers answer by default: one SSE event on the POST's response.
            headers.append((b"content-type", b"text/event-stream"))
            reply = b"event: message\ndata: " + reply + b"\n\n"
        await self._answer(send, 200, reply, headers)

    def result(self, method: str, params: dict[str, Any]) -> bytes | None:
        if method == "tools/call":
            arguments = params.get("arguments") or {}
            if params.get("name") == "big":
                return self._big(int(arguments.get("size", 0)))
            if params.get("name") == "echo":
                text = f"{self.name}:{arguments.get('text', '')}"
                return orjson.dumps({"content": [{"type": "text", "text": text}], "isError": False})
            return orjson.dumps({"content": [{"type": "text", "text": "unknown tool"}], "isError": True})
        if method == "tools/list":
            return self.tools_list
        if method == "initialize":
            version = params.get("protocolVersion", "2025-11-25")
            return orjson.dumps(
                {
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": f"echo-{self.name}", "version": "1"},
                }
            )
        if method == "ping":
            return b"{}"
        return None

    def _big(self, size: int) -> bytes:
        size = max(0, min(size, MAX_BIG))
        cached = self.big.get(size)
        if cached is None:
            result = {"content": [{"type": "text", "text": "x" * size}], "isError": False}
            cached = self.big[size] = orjson.dumps(result)
        return cached

    @staticmethod
    async def _answer(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
        headers = [(b"content-length", str(len(body)).encode()), *extra]
        if body and not any(name == b"content-type" for name, _ in extra):
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default="echo")
    parser.add_argument("--sse", action="store_true", help="answer requests with an SSE event, not JSON")
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(
        EchoServer(args.name, sse=args.sse),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
