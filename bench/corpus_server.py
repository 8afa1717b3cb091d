"""A stdio MCP server that serves the guardrail corpus, for ``bench.guardrail_quality``.

Tools: ``sink(value)`` answers ``ok`` whatever it is given (so anything the gateway does to the
call is about the argument), ``emit(id)`` answers with the corpus text of item ``id`` (so anything
done is about the result), and, with ``--definitions FILE``, the tool definitions in that JSON list
(served as they are, to be judged by the gateway's definition guardrails; calling them answers ``ok``).

Run: ``python bench/corpus_server.py --corpus DIR [--definitions FILE]`` (the gateway starts it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

OWN_TOOLS = [
    {
        "name": "sink",
        "description": "Accepts a value and answers ok.",
        "inputSchema": {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]},
    },
    {
        "name": "emit",
        "description": "Answers with the text of one corpus item.",
        "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    },
]


def load_texts(corpus: Path) -> dict[str, str]:
    texts = {}
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                item = orjson.loads(line)
                texts[item["id"]] = item["text"]
    return texts


def answer(message: dict[str, Any], texts: dict[str, str], tools: list[dict[str, Any]]) -> Any:
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "corpus", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": tools}
    if method == "tools/call":
        if params.get("name") == "emit":
            text = texts.get(str((params.get("arguments") or {}).get("id")), "")
            return {"content": [{"type": "text", "text": text}], "isError": False}
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}
    if method == "ping":
        return {}
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--definitions")
    args = parser.parse_args()
    texts = load_texts(Path(args.corpus))
    tools = list(OWN_TOOLS)
    if args.definitions:
        tools = orjson.loads(Path(args.definitions).read_bytes())
    for line in sys.stdin.buffer:
        message = orjson.loads(line)
        if "id" not in message or "method" not in message:
            continue
        result = answer(message, texts, tools)
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        if result is None:
            reply["error"] = {"code": -32601, "message": f"no method {message['method']}"}
        else:
            reply["result"] = result
        sys.stdout.buffer.write(orjson.dumps(reply) + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
