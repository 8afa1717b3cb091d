"""/readyz: 503 with a fixed vocabulary of reasons when this gateway should get no work; no key
needed, and nothing of the configuration shown. (200 "ready", and 503 "draining" on SIGTERM, are
in tests/test_drain.py: one gateway process for both.)"""

from __future__ import annotations

from pathlib import Path

import httpx2

from gateway.readiness import REASONS
from tests.support import default_settings, fixture_server, free_port, running_gateway


def test_not_ready_names_only_reasons_from_the_vocabulary(tmp_path: Path) -> None:
    secret_path = "/nonexistent/secret-dir/server"
    dead_redis = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    settings = default_settings(
        {
            "alpha": {"command": secret_path, "start": "eager", "env": {"TOKEN": "s3cr3t"}},
            "beta": fixture_server("beta"),  # lazy and fine: /healthz says "degraded", 200
        },
        redis={"url": dead_redis},
    )
    with running_gateway(tmp_path, settings) as gateway:
        ready = httpx2.get(f"{gateway.base}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["status"] == "not ready"
        assert set(body["reasons"]) == {"upstreams not ready", "state store unreachable"}
        assert set(body["reasons"]) <= set(REASONS)
        for leak in ("secret-dir", "hunter2", "s3cr3t", "redis://", "TOKEN"):
            assert leak not in ready.text
