"""What the plugin framework costs per ``tools/call``, in process (no HTTP, no upstream I/O): the
``Plugins`` middleware around an app that answers at once, for each configuration, against the
same app with no plugin file at all.

- ``none``: a plugin file with no plugin (the framework's fixed cost; budget <= 2 us);
- ``native no-op``: one native plugin on ``tool_pre_invoke`` and ``tool_post_invoke`` that
  changes nothing (budget <= 15 us);
- ``external no-op, stdio``: one external plugin server (``bench/noop_plugin_server.py``, the
  spec's shape) on ``tool_pre_invoke``: one hook over stdio, p50 at c=1 (budget <= 1 ms).

Run: ``.venv/bin/python -m bench.plugins`` (``--smoke``: a few calls, to see it runs). The
in-process figures are the best of many short runs (the machine may be shared); the external one
is a median of single calls.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
import yaml

from gateway.plugin_servers import SupervisedPluginServer
from middleware.plugins import PluginManager, Plugins
from middleware.protocol import RESPONSE, result_message
from middleware.protocol.testing import make_test_scope
from upstream.transports.reaper import Reaper

BENCH = Path(__file__).resolve().parent
RESULT = {"content": [{"type": "text", "text": "hello"}], "isError": False}
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "native no-op": [
        {"name": "noop", "kind": "bench.noop_plugin.NoOp", "hooks": ["tool_pre_invoke", "tool_post_invoke"]}
    ],
    "external no-op, stdio": [
        {
            "name": "NoOp",
            "kind": "external",
            "mcp": {"proto": "STDIO", "cmd": [sys.executable, str(BENCH / "noop_plugin_server.py")]},
        }
    ],
}


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": RESPONSE, "message": result_message(scope["id"], RESULT)})


async def sink(event: Any) -> None:
    return None


async def best_per_call(app: Any, calls: int, rounds: int) -> float:
    scope = make_test_scope("tools/call", {"name": "echo", "arguments": {"text": "hello"}})
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await app(scope, None, sink)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


async def median_per_call(app: Any, calls: int) -> float:
    scope = make_test_scope("tools/call", {"name": "echo", "arguments": {"text": "hello"}})
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await app(scope, None, sink)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


async def main(smoke: bool = False) -> None:
    calls, rounds, singles = (50, 3, 20) if smoke else (2000, 100, 1000)
    bare = await best_per_call(answer, calls, rounds)
    print(f"{'no plugin file':24} {bare:9.2f} us/call")
    reaper = Reaper()
    reaper.start()
    with tempfile.TemporaryDirectory() as work:
        for label, entries in CONFIGS.items():
            path = Path(work) / "plugins.yaml"
            path.write_text(yaml.safe_dump({"plugins": entries}))
            manager = PluginManager.from_file(path, lambda entry: SupervisedPluginServer(entry, reaper))
            await manager.initialize()
            app = Plugins(answer, manager.executor)
            if label.startswith("external"):
                await median_per_call(app, 5 if smoke else 50)  # warm up
                cost = await median_per_call(app, singles)
                print(f"{label:24} {cost:9.2f} us/call (p50, c=1; {cost - bare:,.0f} us over no plugin file)")
            else:
                cost = await best_per_call(app, calls, rounds)
                print(f"{label:24} {cost:9.2f} us/call ({cost - bare:+.2f} us over no plugin file)")
            await manager.shutdown()
    await reaper.stop()


if __name__ == "__main__":
    uvloop.run(main(smoke="--smoke" in sys.argv))
