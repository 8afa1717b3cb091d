"""A 2026-07-28 client hears the log messages of its own call from a 2026-07-28 upstream, over
stdio as over HTTP: it asks for them per request (``io.modelcontextprotocol/logLevel``) and
they come on that call's stream, at that level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RunningGateway, default_settings, running_gateway, text_of
from tests.test_modern_upstream import http_server, logs_in, stdio_server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = Path(tmp_path_factory.mktemp("modern-logs"))
    with http_server(tmp, "mhttp", logs_in(tmp, "mhttp")) as url:
        servers = {
            # Dual-era servers: the gateway finds them modern by itself (server/discover).
            "mstdio": stdio_server("mstdio", logs_in(tmp, "mstdio"), start="eager"),
            "mhttp": {"url": url, "start": "eager"},
        }
        with running_gateway(tmp, default_settings(servers)) as running:
            yield running


@pytest.mark.parametrize("server", ["mstdio", "mhttp"])
@pytest.mark.parametrize(
    ("level", "expected"),
    [("debug", ["debug:a debug line", "warning:a warning line"]), ("warning", ["warning:a warning line"])],
)
async def test_a_modern_client_hears_its_calls_logs(
    gateway: RunningGateway, server: str, level: str, expected: list[str]
) -> None:
    seen: list[str] = []

    async def on_log(params: Any) -> None:
        seen.append(f"{params.level}:{params.data}")

    async with gateway.client(mode="2026-07-28", logging_callback=on_log, log_level=level) as client:
        assert text_of(await client.call_tool(f"{server}__chatty", {})) == "logged"
    assert seen == expected
    assert f"[{server}] speaks 2026-07-28 (server/discover)" in gateway.log()
