"""Tenancy in process: settings validation, the merge of settings and store, the stores
(a real SQLite file, a real Redis), the hot path's authenticator and its refresh."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from gateway.state.tenancy_admin import Admin, AdminError
from gateway.state.tenancy_merge import declared, legacy_key_id, merge
from gateway.state.tenancy_store import SqliteTenancyStore, open_tenancy_store, safe_url
from gateway.tenancy import Tenancy, settings_problems
from middleware.auth.api_key import hash_key
from middleware.auth.chain import AuthRefused
from middleware.auth.keys import KeyAuthenticator, KeyEntry, Restriction, Stored, TenancyStore, load, save
from middleware.protocol import Principal
from middleware.protocol.http import ASGIScope
from tests.test_mrtr_replicas import redis_server

ALICE_KEY = "pcs_alice_laptop_key_for_tests_000000000000"
BOB_KEY = "pcs_bob_legacy_key_for_tests_0000000000000"


def http_scope(key: str | None, header: bytes = b"authorization") -> ASGIScope:
    value = f"Bearer {key}" if header == b"authorization" else key
    headers = [(header, value.encode())] if key is not None and value is not None else []
    return {"type": "http", "method": "POST", "path": "/mcp", "headers": headers}


def settings_with(state: str | Path, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "projects": {"acme": {"servers": ["files", "git*"], "description": "Acme"}},
        "users": {
            "alice": {
                "project": "acme",
                "roles": ["dev"],
                "keys": [{"name": "laptop", "sha256": hash_key(ALICE_KEY)}],
            }
        },
        "auth": {"api_keys": [{"principal": "bob", "sha256": hash_key(BOB_KEY)}]},
        "guardrails": {"store": str(state)},
        **extra,
    }
    return Settings(**data)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[TenancyStore]:
    store = open_tenancy_store(str(tmp_path / "state.db"))
    yield store
    await store.close()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


# --- settings ---------------------------------------------------------------------------------


def test_settings_problems_name_the_key_and_the_fix(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path / "s.db",
        users={
            "alice": {"project": "acme", "keys": [{"name": "a", "sha256": hash_key(BOB_KEY)}]},
            "carol": {
                "project": "nope",
                "keys": [{"name": "x", "sha256": "1" * 64}, {"name": "x", "sha256": "2" * 64}],
            },
        },
    )
    problems = settings_problems(settings)
    assert any(
        p.startswith("users.carol.project: unknown project 'nope'") and "[projects.nope]" in p
        for p in problems
    )
    assert any(p.startswith("users.carol.keys[1].name: 'x' is used twice") for p in problems)
    assert any(
        p.startswith("users.alice.keys[0].sha256: the same hash as auth.api_keys[0]") for p in problems
    )
    with pytest.raises(Exception, match="must be 64 lowercase hex"):
        Settings(users={"dan": {"keys": [{"name": "k", "sha256": "not-a-hash"}]}})


# --- the hot path -----------------------------------------------------------------------------


async def test_a_key_names_its_user_project_roles_and_key_id(tmp_path: Path) -> None:
    tenancy = Tenancy(settings_with(tmp_path / "s.db"))
    auth = tenancy.authenticator
    alice = await auth.authenticate(http_scope(ALICE_KEY))
    assert alice == Principal("alice", {"key_id": "alice/laptop"}, project="acme", roles=frozenset({"dev"}))
    bob = await auth.authenticate(http_scope(BOB_KEY, b"x-api-key"))
    assert bob is not None and (bob.name, bob.project) == ("bob", None)  # [auth] api_keys keep working
    assert await auth.authenticate(http_scope("pcs_unknown")) is None  # not ours: the next one is asked
    assert await auth.authenticate(http_scope(None)) is None
    assert tenancy.project_servers("acme") == ("files", "git*")
    assert tenancy.project_servers("nope") == ()  # an undeclared project reaches no server


async def test_expired_disabled_and_revoked_keys_are_refused() -> None:
    now = [1000.0]
    entries = {
        hash_key("pcs_a"): KeyEntry(Principal("a"), expires=1001.0),
        hash_key("pcs_b"): KeyEntry(Principal("b"), refusal="the API key was revoked"),
    }
    auth = KeyAuthenticator(entries, clock=lambda: now[0])
    assert await auth.authenticate(http_scope("pcs_a")) == Principal("a")
    now[0] = 1001.0
    with pytest.raises(AuthRefused, match="expired"):
        await auth.authenticate(http_scope("pcs_a"))
    with pytest.raises(AuthRefused, match="revoked"):
        await auth.authenticate(http_scope("pcs_b"))


# --- settings and store merged ----------------------------------------------------------------


async def test_store_restrictions_apply_to_settings_keys_and_settings_win_clashes(tmp_path: Path) -> None:
    settings = settings_with(tmp_path / "s.db", users={"alice": {"project": "acme", "disabled": False}})
    stored = Stored(7)
    stored.projects["acme"] = declared(settings).projects["acme"].__class__("acme", ("*",))
    stored.restrictions["user:alice"] = Restriction("user:alice", disabled=True)
    legacy = legacy_key_id(hash_key(BOB_KEY))
    stored.restrictions[f"key:{legacy}"] = Restriction(f"key:{legacy}", expires=5.0)
    directory = merge(declared(settings), stored)
    assert directory.projects["acme"].servers == ("files", "git*")  # the settings' declaration
    assert any("project 'acme' is declared in settings and also created" in p for p in directory.problems)
    assert directory.users["alice"].disabled  # a store restriction reaches a settings user
    assert directory.keys[legacy].expires == 5.0  # ... and a settings key
    assert directory.source("user", "bob") == "auth.api_keys"


async def test_a_legacy_key_of_a_declared_user_takes_the_users_project(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path / "s.db", auth={"api_keys": [{"principal": "alice", "sha256": hash_key(BOB_KEY)}]}
    )
    principal = await Tenancy(settings).authenticator.authenticate(http_scope(BOB_KEY))
    assert principal is not None and (principal.name, principal.project) == ("alice", "acme")


async def test_admin_refuses_what_contradicts_settings(tmp_path: Path, sqlite_store: TenancyStore) -> None:
    admin = Admin(settings_with(tmp_path / "s.db"), sqlite_store)
    with pytest.raises(AdminError, match="declared in settings"):
        await admin.delete_user("alice")
    with pytest.raises(AdminError, match=r"unknown project 'nope'.*projects create nope"):
        await admin.create_user("dan", "nope", [], None)
    with pytest.raises(AdminError, match="exists already"):
        await admin.create_project("acme", ["*"], "")
    await admin.revoke("alice/laptop")
    with pytest.raises(AdminError, match="revoked, for good"):
        await admin.set_key_disabled("alice/laptop", False)
    await admin.create_project("beta", ["*"], "")
    await admin.create_user("dan", "beta", [], None)
    with pytest.raises(AdminError, match="still has users"):
        await admin.delete_project("beta")


async def test_a_stored_user_whose_project_went_is_refused(
    tmp_path: Path, sqlite_store: TenancyStore
) -> None:
    from gateway.state.tenancy_store import MemoryTenancyStore

    store = MemoryTenancyStore()
    admin = Admin(settings_with(tmp_path / "s.db"), store)
    await admin.create_project("beta", ["*"], "")
    await admin.create_user("dan", "beta", [], None)
    _, key = await admin.create_key("dan", "ci", None)
    stored = await load(store)
    del stored.projects["beta"]  # as if the project were removed behind the CLI's back
    directory = merge(declared(admin.settings), stored)
    with pytest.raises(AuthRefused, match="project no longer exists"):
        await KeyAuthenticator(directory.key_table()).authenticate(http_scope(key))
    assert any("unknown project 'beta'" in p for p in directory.problems)


# --- stores -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_store_versions_every_change(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    location = str(tmp_path / "state.db") if kind == "sqlite" else request.getfixturevalue("redis_url")
    store = open_tenancy_store(location, prefix=f"test-{tmp_path.name}:")
    try:
        start = await store.version()
        assert await store.write("user", "dan", b'{"name": "dan"}', only_new=True)
        assert not await store.write("user", "dan", b'{"name": "other"}', only_new=True)
        assert await store.write("user", "dan", b'{"name": "dan", "disabled": true}')
        version, rows = await store.rows()
        assert version > start and rows == [("user", "dan", b'{"name": "dan", "disabled": true}')]
        assert await store.write("user", "dan", None)
        assert not await store.write("user", "dan", None)
        assert await store.version() > version and (await store.rows())[1] == []
    finally:
        await store.close()


def test_a_redis_url_is_printed_without_its_password() -> None:
    assert safe_url("redis://user:hunter2@cache:6379/0") == "redis://user:****@cache:6379/0"
    assert safe_url("redis://:hunter2@cache/0") == "redis://:****@cache/0"
    assert (
        safe_url("unix:///run/redis.sock?db=0&password=hunter2")
        == "unix:///run/redis.sock?db=0&password=****"
    )


# --- the refresh ------------------------------------------------------------------------------


async def test_a_revocation_in_the_store_reaches_a_running_tenancy(tmp_path: Path) -> None:
    settings = settings_with(tmp_path / "state.db")
    tenancy = Tenancy(settings, poll=0.05)
    await tenancy.start()
    operator = SqliteTenancyStore(tmp_path / "state.db")  # another connection, as the CLI has
    try:
        assert await tenancy.authenticator.authenticate(http_scope(ALICE_KEY)) is not None
        await Admin(settings, operator).revoke("alice/laptop")
        await asyncio.sleep(0.3)
        with pytest.raises(AuthRefused, match="revoked"):
            await tenancy.authenticator.authenticate(http_scope(ALICE_KEY))
    finally:
        await operator.close()
        await tenancy.close()


async def test_a_store_outage_keeps_the_last_snapshot_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_server(tmp_path) as url:
        settings = settings_with(tmp_path / "unused.db", redis={"url": url})
        tenancy = Tenancy(settings, poll=3600)
        await tenancy.start()
        store = open_tenancy_store(url)
        admin = Admin(settings, store)
        await admin.create_project("beta", ["*"], "")
        await admin.create_user("dan", "beta", ["ops"], None)
        _, key = await admin.create_key("dan", "ci", None)
        await store.close()
        assert await tenancy.refresh()
    caplog.set_level(logging.WARNING, "portcullis.tenancy")
    for _ in range(3):
        assert not await tenancy.refresh()
    principal = await tenancy.authenticator.authenticate(http_scope(key))
    assert principal is not None and principal.roles == frozenset({"ops"})
    warnings = [r.getMessage() for r in caplog.records if r.name == "portcullis.tenancy"]
    assert len(warnings) == 1 and "keeping the last" in warnings[0], warnings
    assert key not in caplog.text and hash_key(key) not in caplog.text
    await tenancy.close()


async def test_save_and_load_round_trip_every_record(sqlite_store: TenancyStore) -> None:
    await save(sqlite_store, Restriction("key:alice/laptop", revoked=True, expires=12.5, replaced_by="key_x"))
    stored = await load(sqlite_store)
    assert stored.restrictions == {
        "key:alice/laptop": Restriction("key:alice/laptop", revoked=True, expires=12.5, replaced_by="key_x")
    }


async def test_what_settings_disable_or_expire_stays_refused(
    tmp_path: Path, sqlite_store: TenancyStore
) -> None:
    keys = [
        {"name": "old", "sha256": hash_key("pcs_old"), "expires": "2020-01-01T00:00:00"},
        {"name": "off", "sha256": hash_key("pcs_off"), "disabled": True},
    ]
    settings = settings_with(tmp_path / "s.db", users={"alice": {"project": "acme", "keys": keys}})
    admin = Admin(settings, sqlite_store)
    assert (await admin.set_key_disabled("alice/off", False)).startswith("still disabled")
    authenticator = KeyAuthenticator((await admin.directory()).key_table())
    with pytest.raises(AuthRefused, match="expired"):
        await authenticator.authenticate(http_scope("pcs_old"))
    with pytest.raises(AuthRefused, match="disabled"):
        await authenticator.authenticate(http_scope("pcs_off"))
