"""An operator's restart (``POST /api/v1/servers/NAME/restart``) is a restart, not a crash: the
crash-loop guard never sees it, so restarting a healthy server again and again never makes it
'failed', while the restart metric counts each one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest

from middleware.auth.api_key import hash_key
from tests.support import RunningGateway, default_settings, fixture_server, free_port, pid_of, running_gateway
from tests.test_metrics import scrape, value

pytestmark = pytest.mark.timeout(60)

TOKEN = "pca_test_admin_token_restarts_0123456789"


async def pid(gateway: RunningGateway) -> int:
    async with gateway.client() as client:
        return await pid_of(client, "alpha__pid")


def test_an_operators_restarts_are_counted_but_never_a_crash_loop(tmp_path: Path) -> None:
    port = free_port()
    # One crash in a minute is tolerated, two are a loop: three restarts would trip a guard
    # that took them for crashes.
    settings = default_settings(
        {"alpha": fixture_server("alpha", restart={"max_restarts": 1, "window": 60})},
        admin={"enabled": True, "port": port, "token_sha256": hash_key(TOKEN)},
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    headers = {"authorization": f"Bearer {TOKEN}"}
    with running_gateway(tmp_path, settings) as gateway:
        pids = [asyncio.run(pid(gateway))]
        for _ in range(3):
            answer = httpx2.post(f"{api}/servers/alpha/restart", headers=headers, timeout=30)
            assert answer.json() == {"server": "alpha", "state": "restarting"}
            pids.append(asyncio.run(pid(gateway)))
        assert len(set(pids)) == 4  # a new process each time, and each one answered
        servers = httpx2.get(f"{api}/servers", headers=headers, timeout=30).json()["servers"]
        assert servers["alpha"]["state"] == "running"
        samples = scrape(gateway)
        assert value(samples, "portcullis_upstream_restarts_total", server="alpha") == 3
        assert "crash loop" not in gateway.log()
