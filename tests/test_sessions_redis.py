"""Gateway sessions on Redis: any replica serves any session, an expired record ends what each
replica held of it, and an unreachable Redis refuses requests with 503 until it is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
import redis

from gateway.front.sessions import SessionRecord
from gateway.state.redis_sessions import RedisSessionStore, SessionStoreUnavailable
from tests.support import BOB_KEY, RunningGateway, default_settings, fixture_server, running_gateway
from tests.test_drain import open_session
from tests.test_mrtr_replicas import redis_server
from tests.test_rate_limits_redis import stop_redis
from tests.test_reload import rpc, tool_text


def record(session_id: str, principal: str = "alice") -> SessionRecord:
    return SessionRecord(id=session_id, principal=principal, endpoint="/mcp", protocol_version="2025-11-25")


async def test_records_live_while_used_and_expire_for_the_replica_that_served_them(tmp_path: Path) -> None:
    ended: list[str] = []

    async def on_expired(session_id: str) -> None:
        ended.append(session_id)

    with redis_server(tmp_path) as url:
        here = RedisSessionStore(url, prefix="t:", idle_timeout=0.6, on_expired=on_expired)
        there = RedisSessionStore(url, prefix="t:", idle_timeout=0.6)
        await here.create(record("s1"))
        await here.create(record("s2", principal="bob"))
        for _ in range(4):  # used within the idle timeout, again and again: it stays
            await asyncio.sleep(0.3)
            found = await there.get("s1")
            assert found is not None and found.principal == "alice"
        assert await here.count() == 1  # s2 was idle past 0.6 s
        assert [r.id for r in await there.records()] == ["s1"]
        assert await here.expire_idle() == ["s2"]  # here served s2: here ends its state
        assert await there.expire_idle() == []  # there never held s2
        await asyncio.sleep(0.7)
        assert await here.get("s1") is None and ended == ["s1"]  # expired before the janitor
        assert await there.delete("s1") is False
        await here.close()
        await there.close()


async def test_an_unreachable_store_refuses_with_503_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_server(tmp_path) as url:
        port = urlsplit(url).port
    store = RedisSessionStore(url, prefix="t:", idle_timeout=60)
    for _ in range(3):
        with pytest.raises(SessionStoreUnavailable, match="session store is unreachable") as refused:
            await store.get("s1")
        assert refused.value.http_status == 503
    assert sum("session store unreachable" in r.message for r in caplog.records) == 1
    with redis_server(tmp_path, port):
        await store.create(record("s1"))
        assert await store.get("s1") is not None
    assert any("reachable again" in r.message for r in caplog.records)
    await store.close()


async def test_any_replica_serves_any_session_and_redis_coming_back_needs_no_restart(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        port = urlsplit(url).port
        settings = default_settings({"alpha": fixture_server("alpha")}, redis={"url": url})
        with running_gateway(tmp_path, settings) as first, running_gateway(tmp_path, settings) as second:
            await sessions_across(tmp_path, port, first, second)
        for gateway in (first, second):
            log = gateway.log()
            assert log.count("session store unreachable") <= 1 and "Traceback" not in log, log


async def sessions_across(
    tmp_path: Path, port: int | None, first: RunningGateway, second: RunningGateway
) -> None:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        alice = await open_session(http, first.url, first.headers())
        assert await tool_text(http, second, alice, "alpha__whoami") == "alpha"  # made on a, used on b
        bob_with_alices_session = {**alice, **second.headers(BOB_KEY)}
        refused = await rpc(http, second, bob_with_alices_session, "tools/list")
        assert refused.status_code == 404  # bound to its principal on every replica
        ended = await http.delete(second.url, headers=alice)
        assert ended.status_code in (200, 204)
        assert (await rpc(http, first, alice, "tools/list")).status_code == 404  # ended everywhere

        again = await open_session(http, first.url, first.headers())
        stop_redis(f"redis://127.0.0.1:{port}/0")
        down = await rpc(http, second, again, "tools/list")
        assert down.status_code == 503 and "session store is unreachable" in down.text
        not_ready = await http.get(f"{second.base}/readyz")
        assert not_ready.status_code == 503 and "state store unreachable" in not_ready.text
        with redis_server(tmp_path, port):  # empty: the sessions it held are gone
            assert await ready_within(http, second, 10)  # the probes see it back on their own
            assert (await rpc(http, second, again, "tools/list")).status_code == 404
            fresh = await open_session(http, second.url, second.headers())
            assert await tool_text(http, first, fresh, "alpha__whoami") == "alpha"


async def ready_within(http: httpx2.AsyncClient, gateway: RunningGateway, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await http.get(f"{gateway.base}/readyz")).status_code == 200:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_the_redis_password_is_named_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[redis] password = "${VAR}"`` or ``"file:/path"``: read at start, never in the URL the
    settings hold (nor in what they export)."""
    from gateway.settings import Settings, SettingsError

    secret_file = tmp_path / "redis-password"
    secret_file.write_text("s3cret/pass\n")
    with redis_server(tmp_path, None, "--requirepass", "s3cret/pass") as url:
        for named in ("${PORTCULLIS_TEST_REDIS_PW}", f"file:{secret_file}"):
            monkeypatch.setenv("PORTCULLIS_TEST_REDIS_PW", "s3cret/pass")
            settings = Settings(redis={"url": url, "password": named})
            assert "s3cret" not in settings.model_dump_json()
            connect = settings.redis.connect_url
            assert connect is not None
            store = RedisSessionStore(connect, prefix="t:", idle_timeout=60)
            await store.create(record("s1"))
            assert await store.get("s1") is not None
            await store.close()
        monkeypatch.delenv("PORTCULLIS_TEST_REDIS_PW")
        missing = Settings(redis={"url": url, "password": "${PORTCULLIS_TEST_REDIS_PW}"})
        with pytest.raises(SettingsError, match="PORTCULLIS_TEST_REDIS_PW"):
            _ = missing.redis.connect_url


async def test_a_replica_trusts_its_copy_for_the_lease_and_drops_it_when_told(tmp_path: Path) -> None:
    """Within the lease a busy session's requests make no round trip; the replica bus tells the
    others when a session ends (``forget``), so none serves it after that."""
    with redis_server(tmp_path) as url:
        here = RedisSessionStore(url, prefix="t:", idle_timeout=60)
        there = RedisSessionStore(url, prefix="t:", idle_timeout=60)
        await here.create(record("s1"))
        assert await there.get("s1") is not None
        before = redis.Redis.from_url(url).info("commandstats").get("cmdstat_getex", {}).get("calls", 0)
        for _ in range(20):
            assert await there.get("s1") is not None
        after = redis.Redis.from_url(url).info("commandstats").get("cmdstat_getex", {}).get("calls", 0)
        assert after == before  # no round trip within the lease
        assert await here.delete("s1") is True
        await there.forget("s1")  # what the bus's "ended" does on every other replica
        assert await there.get("s1") is None
        await here.close()
        await there.close()


async def test_sessions_over_tls_with_rediss(tmp_path: Path) -> None:
    """``rediss://`` with the CA that signed Redis's certificate works; without it, the store
    refuses to trust the server (503), it never falls back to plain text."""
    import subprocess

    from tests.http_fixtures import make_pki
    from tests.support import free_port
    from tests.test_mrtr_replicas import _listening

    pki = make_pki(tmp_path / "pki")
    port = free_port()
    tls = ["--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key)]
    tls += ["--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "no"]
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), *tls, "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        trusted = RedisSessionStore(
            f"rediss://localhost:{port}/0?ssl_ca_certs={pki.ca}", prefix="t:", idle_timeout=60
        )
        await trusted.create(record("s1"))
        assert await trusted.get("s1") is not None
        await trusted.close()
        untrusted = RedisSessionStore(f"rediss://localhost:{port}/0", prefix="t:", idle_timeout=60)
        with pytest.raises(SessionStoreUnavailable):
            await untrusted.get("s1")
        await untrusted.close()
    finally:
        process.terminate()
        process.wait(10)
