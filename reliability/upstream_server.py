"""The reliability suite's upstream: a minimal stdio MCP server (2025-11-25, JSON lines).

Written on plain pipes with orjson rather than the ``mcp`` SDK so that it starts in a few tens
of milliseconds: part (b) kills and restarts it a thousand times. Its tools cover what the
suite needs to provoke:

- ``echo(text)``: the text back; ``pid()``: ``"<pid> <child pid>"``, so the suite can kill it
  and check that its child went with it (``--child`` starts a ``sleep`` in its process group);
- ``slow(seconds)``: answers after a delay; appends ``s`` to ``$RELIABILITY_STARTED`` when it
  starts, so the suite knows a call is in flight without sleeping;
- ``hang()``: never answers;
- ``chatty(count, size)``: ``count`` progress notifications of ``size`` bytes each, then an answer.

Every ``notifications/cancelled`` it receives is appended to ``$RELIABILITY_CANCELLED`` as
``<requestId>``, one per line: the proof that the gateway cancelled a call it gave up on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from typing import Any

import orjson

TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "pid", "inputSchema": {"type": "object"}},
    {"name": "slow", "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}}},
    {"name": "hang", "inputSchema": {"type": "object"}},
    {
        "name": "chatty",
        "inputSchema": {
            "type": "object",
            "properties": {"count": {"type": "integer"}, "size": {"type": "integer"}},
        },
    },
]


class Server:
    def __init__(self, name: str, child: int | None) -> None:
        self.name = name
        self.child = child
        self.calls: dict[Any, asyncio.Task[None]] = {}

    def resource(self) -> dict[str, Any]:
        """Its one resource, under a URI of its own: the same URI from several servers behind
        one endpoint is a collision the gateway refuses."""
        return {"uri": f"rel://{self.name}/info", "name": "info", "mimeType": "text/plain"}

    def write(self, message: dict[str, Any]) -> None:
        sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
        sys.stdout.buffer.flush()

    def answer(self, request_id: Any, result: dict[str, Any]) -> None:
        self.write({"jsonrpc": "2.0", "id": request_id, "result": result})

    def fail(self, request_id: Any, code: int, message: str) -> None:
        self.write({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})

    def handle(self, message: dict[str, Any]) -> None:
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if method == "notifications/cancelled":
            self.cancelled(params.get("requestId"))
        elif request_id is None:
            return
        elif method == "initialize":
            self.answer(request_id, self.initialize(params))
        elif method == "ping":
            self.answer(request_id, {})
        elif method == "tools/list":
            self.answer(request_id, {"tools": TOOLS})
        elif method == "tools/call":
            task = asyncio.get_running_loop().create_task(self.call(request_id, params))
            self.calls[request_id] = task
            task.add_done_callback(lambda _: self.calls.pop(request_id, None))
        elif method == "resources/list":
            self.answer(request_id, {"resources": [self.resource()]})
        elif method == "resources/read":
            uri = params.get("uri")
            if uri != self.resource()["uri"]:
                self.fail(request_id, -32002, f"no resource {uri!r}")
            else:
                self.answer(request_id, {"contents": [{"uri": uri, "text": f"{self.name} info"}]})
        else:
            self.fail(request_id, -32601, f"method {method!r} not found")

    def initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}, "resources": {}},
            "serverInfo": {"name": f"reliability-{self.name}", "version": "0"},
        }

    def cancelled(self, request_id: Any) -> None:
        log = os.environ.get("RELIABILITY_CANCELLED")
        if log:
            with open(log, "a", encoding="utf-8") as file:
                file.write(f"{request_id}\n")
        task = self.calls.pop(request_id, None)
        if task is not None:
            task.cancel()

    async def call(self, request_id: Any, params: dict[str, Any]) -> None:
        """Run a tool; arguments of the wrong type (the fuzzer sends them) get -32602, as a
        well-behaved server answers, instead of a traceback in the gateway's log."""
        try:
            await self.tool(request_id, params)
        except (TypeError, ValueError, OverflowError) as exc:
            self.fail(request_id, -32602, f"invalid arguments: {exc}")

    async def tool(self, request_id: Any, params: dict[str, Any]) -> None:
        name, args = params.get("name"), params.get("arguments") or {}
        if not isinstance(args, dict):
            args = {}
        if name == "echo":
            text = str(args.get("text", ""))
        elif name == "pid":
            text = f"{os.getpid()} {self.child or 0}"
        elif name == "slow":
            started = os.environ.get("RELIABILITY_STARTED")
            if started:
                with open(started, "a", encoding="utf-8") as file:
                    file.write("s")
            await asyncio.sleep(min(float(args.get("seconds", 1) or 0), 3600.0))
            text = "done"
        elif name == "hang":
            await asyncio.Event().wait()
            return
        elif name == "chatty":
            text = await self.chatty(params, int(args.get("count", 1)), int(args.get("size", 10)))
        else:
            self.answer(
                request_id, {"content": [{"type": "text", "text": f"no tool {name!r}"}], "isError": True}
            )
            return
        self.answer(request_id, {"content": [{"type": "text", "text": text}]})

    async def chatty(self, params: dict[str, Any], count: int, size: int) -> str:
        token = (params.get("_meta") or {}).get("progressToken")
        for step in range(1, min(count, 10_000) + 1):
            if token is not None:
                notification = {"progressToken": token, "progress": step, "message": "x" * min(size, 1 << 20)}
                self.write({"jsonrpc": "2.0", "method": "notifications/progress", "params": notification})
            await asyncio.sleep(0)
        return f"{count} sent"


async def serve(server: Server) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(message, dict):
            server.handle(message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--name", default="up")
    parser.add_argument("--child", action="store_true", help="start a sleeping child process")
    args = parser.parse_args()
    child = None
    if args.child:
        child = subprocess.Popen(["sleep", "100000"], stdin=subprocess.DEVNULL).pid
    asyncio.run(serve(Server(args.name, child)))


if __name__ == "__main__":
    main()
