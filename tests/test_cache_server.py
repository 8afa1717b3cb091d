"""An upstream for the cache tests (run as a script; it holds no tests): plain JSON lines.

``python tests/test_cache_server.py --name NAME --log PATH [--ttl-ms N] [--scope public|private]``.
Every request's method is appended to PATH, so a test counts what reached the upstream. Each
answer carries a per-process token and a counter, so a cached answer is told from a fresh one.
``add_tool`` adds a tool and announces it (``tools/list_changed``, before its answer) unless
``--quiet``, which also leaves ``listChanged`` out of the capabilities;
``touch`` announces ``resources/updated`` for its ``uri``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any

READ_ONLY = {"readOnlyHint": True, "idempotentHint": True}
SCHEMA = {"type": "object", "properties": {"uri": {"type": "string"}, "n": {"type": "integer"}}}


class Upstream:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.token = secrets.token_hex(4)
        self.count = 0
        self.tools: list[dict[str, Any]] = [
            {"name": "counter", "inputSchema": SCHEMA, "annotations": READ_ONLY},
            {"name": "public_counter", "inputSchema": SCHEMA, "annotations": READ_ONLY},
            {"name": "failing", "inputSchema": SCHEMA, "annotations": READ_ONLY},
            {"name": "writer", "inputSchema": SCHEMA},
            {"name": "add_tool", "inputSchema": SCHEMA},
            {"name": "touch", "inputSchema": SCHEMA},
        ]

    def hints(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.args.ttl_ms is not None:
            result["ttlMs"] = self.args.ttl_ms
        if self.args.scope is not None:
            result["cacheScope"] = self.args.scope
        return result

    def fresh(self) -> str:
        self.count += 1
        return f"{self.args.name}:{self.token}:{self.count}"

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == "add_tool":
            self.tools.append({"name": f"extra{len(self.tools)}", "inputSchema": SCHEMA})
            if not self.args.quiet:
                emit({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        elif name == "touch":
            emit({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": arguments})
        result: dict[str, Any] = {"content": [{"type": "text", "text": self.fresh()}]}
        if name == "failing":
            result["isError"] = True
        if name == "public_counter":
            result["cacheScope"] = "public"
        return result

    def answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "initialize":
            return {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": {
                    "tools": {"listChanged": not self.args.quiet},
                    "resources": {"subscribe": True},
                },
                "serverInfo": {"name": f"cache-{self.args.name}", "version": "0"},
            }
        if method == "tools/list":
            return self.hints({"tools": self.tools})
        if method == "resources/list":
            return self.hints({"resources": [{"uri": f"mem://{self.args.name}/counter", "name": "counter"}]})
        if method == "resources/templates/list":
            return self.hints({"resourceTemplates": []})
        if method == "resources/read":
            text = self.fresh()
            return self.hints({"contents": [{"uri": params.get("uri"), "text": text}]})
        if method == "tools/call":
            return self.call(str(params.get("name")), params.get("arguments") or {})
        if method in ("ping", "resources/subscribe", "resources/unsubscribe", "logging/setLevel"):
            return {}
        return None


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ttl-ms", type=int, default=None)
    parser.add_argument("--scope", choices=("public", "private"), default=None)
    parser.add_argument("--quiet", action="store_true", help="never announce list changes")
    upstream = Upstream(parser.parse_args())
    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message or "method" not in message:
            continue
        with open(upstream.args.log, "a") as log:
            log.write(message["method"] + "\n")
        result = upstream.answer(message["method"], message.get("params") or {})
        if result is None:
            error = {"code": -32601, "message": f"no method {message['method']}"}
            emit({"jsonrpc": "2.0", "id": message["id"], "error": error})
        else:
            emit({"jsonrpc": "2.0", "id": message["id"], "result": result})


if __name__ == "__main__":
    main()
