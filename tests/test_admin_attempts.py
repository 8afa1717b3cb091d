"""Wrong admin tokens: past ten in a minute from one address, the admin API and the console's
login make that address wait (429 with Retry-After), and the log says so once."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx2
import pytest

from gateway.admin.attempts import WrongAttempts
from tests.support import free_port, running_gateway
from tests.test_console import ADMIN_TOKEN, Browserless, console_settings

pytestmark = pytest.mark.timeout(90)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_after_too_many_wrong_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    attempts = WrongAttempts(limit=3, window=60, clock=clock)
    with caplog.at_level(logging.WARNING, "portcullis.admin"):
        for _ in range(3):
            assert attempts.wait("10.0.0.1") == 0
            attempts.failed("10.0.0.1")
            clock.now += 1
    assert attempts.wait("10.0.0.1") == pytest.approx(57)  # until the first is a minute old
    assert attempts.wait("10.0.0.2") == 0
    assert [r.getMessage() for r in caplog.records] == [
        "admin: 3 wrong admin tokens from 10.0.0.1 within 60 s; it must wait before another"
    ]
    clock.now += 57
    assert attempts.wait("10.0.0.1") == 0  # the oldest left the window: one more try
    attempts.failed("10.0.0.1")
    assert attempts.wait("10.0.0.1") == pytest.approx(1)


def test_memory_holds_a_bounded_number_of_addresses() -> None:
    attempts = WrongAttempts(limit=1, window=60, addresses=100, clock=Clock())
    for n in range(1000):
        attempts.failed(f"10.0.{n // 256}.{n % 256}")
    assert attempts.wait("10.0.3.231") > 0  # the last is remembered
    assert attempts.wait("10.0.0.0") == 0  # the first was forgotten
    assert len(attempts._wrong) == 100


def test_the_api_and_the_console_share_the_count(tmp_path: Path) -> None:
    port = free_port()
    with running_gateway(tmp_path, console_settings(tmp_path, port)) as gateway:
        api = f"http://127.0.0.1:{port}/api/v1/servers"
        for _ in range(20):  # no token at all is a client not set up, not a guess: never counted
            assert httpx2.get(api, timeout=10).status_code == 401
        right = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        assert httpx2.get(api, headers=right, timeout=10).status_code == 200
        console = Browserless(gateway, port)
        for n in range(10):
            wrong = {"authorization": f"Bearer pca_guess_{n}"}
            assert httpx2.get(api, headers=wrong, timeout=10).status_code == 401
        waited = httpx2.get(api, headers=right, timeout=10)
        assert waited.status_code == 429  # even the right token waits, from this address
        assert 50 <= int(waited.headers["retry-after"]) <= 60
        assert waited.json()["error"]["message"] == "too many wrong admin tokens from this address lately"
        login = console.log_in()
        assert login.status_code == 429 and "Too many wrong admin tokens" in login.text
        assert "portcullis_console=" not in login.headers.get("set-cookie", "")
        log = gateway.log()
        assert log.count("10 wrong admin tokens from 127.0.0.1") == 1
        assert "pca_guess" not in log and ADMIN_TOKEN not in log
