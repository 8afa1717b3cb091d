"""Shared fixtures: a gateway in front of two fixture servers whose tool names collide."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunningGateway, default_settings, fixture_server, running_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """Servers ``alpha`` and ``beta``, both with an ``echo`` tool (a collision to namespace)."""
    tmp = tmp_path_factory.mktemp("gateway")
    settings = default_settings(
        {"alpha": fixture_server("alpha"), "beta": fixture_server("beta", "--tools-only")},
        middleware=[
            {"use": "middleware.telemetry.access_log:AccessLog"},
            {"use": "middleware.timeouts:Timeouts", "options": {"default": 20}},
        ],
    )
    with running_gateway(Path(tmp), settings) as running:
        yield running
