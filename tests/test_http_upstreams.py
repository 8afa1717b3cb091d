"""HTTP upstreams behind the gateway: streamable HTTP, legacy HTTP+SSE, TLS, and failures.

The fixture server runs as its own process over HTTP; clients talk to the gateway with the
``mcp`` SDK, exactly as real ones do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.http_fixtures import HttpFixture, http_fixture, make_pki, seen_requests
from tests.support import (
    ALICE_KEY,
    RunningGateway,
    default_settings,
    fixture_server,
    free_port,
    pid_of,
    running_gateway,
    text_of,
)

pytestmark = pytest.mark.timeout(120)

UPSTREAM_SECRET = "Bearer upstream-only-secret"
FAST_MIDDLEWARE = [{"use": "middleware.timeouts:Timeouts", "options": {"default": 20}}]


def _initializes(requests: list[dict[str, Any]]) -> int:
    """POSTs without a session id: the initialize requests this server process received."""
    return sum(1 for r in requests if r["method"] == "POST" and "mcp-session-id" not in r["headers"])


@pytest.fixture(scope="module")
def remotes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, HttpFixture]]:
    tmp = Path(tmp_path_factory.mktemp("remotes"))
    cancel_log = tmp / "remote-cancelled.log"
    with (
        http_fixture(tmp, "remote", env={"FIXTURE_CANCEL_LOG": str(cancel_log)}) as remote,
        http_fixture(tmp, "jsonmode", "--tools-only", "--json-response") as jsonmode,
        http_fixture(tmp, "legacy", "--tools-only", sse=True) as legacy,
    ):
        remote.extra["cancel_log"] = cancel_log
        yield {"remote": remote, "jsonmode": jsonmode, "legacy": legacy}


@pytest.fixture(scope="module")
def gateway(
    remotes: dict[str, HttpFixture], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """A stdio server next to streamable HTTP (SSE and JSON answers) and legacy HTTP+SSE ones."""
    tmp = Path(tmp_path_factory.mktemp("http-gateway"))
    settings = default_settings(
        {
            "local": fixture_server("local", "--tools-only"),
            "remote": {
                "url": remotes["remote"].url,
                "headers": {"Authorization": UPSTREAM_SECRET, "X-Upstream-Tenant": "acme"},
                "era": "legacy",  # its tests are about the initialize era's session
            },
            "jsonmode": {"url": remotes["jsonmode"].url, "transport": "streamable-http"},
            "legacy": {"url": remotes["legacy"].url, "transport": "sse"},
            "detected": {"url": remotes["legacy"].url},  # auto: finds out it is legacy
        },
        middleware=FAST_MIDDLEWARE,
    )
    with running_gateway(tmp, settings) as running:
        yield running


async def test_stdio_and_http_servers_are_aggregated(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        for server in ("local", "remote", "jsonmode", "legacy", "detected"):
            assert f"{server}__echo" in names, server
            reply = text_of(await client.call_tool(f"{server}__echo", {"text": "hi"}))
            expected = "legacy" if server == "detected" else server
            assert reply == f"{expected}:hi"
        prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
        assert prompts == ["remote__greet"]
    assert "using the 2024-11-05 HTTP+SSE transport" in gateway.log()


@pytest.mark.parametrize("server", ["remote", "legacy"])
async def test_progress_is_relayed_as_it_streams(gateway: RunningGateway, server: str) -> None:
    arrivals: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        arrivals.append(time.monotonic())

    async with gateway.client(mode="legacy") as client:
        result = await client.call_tool(
            f"{server}__progress", {"steps": 3, "delay": 0.5}, progress_callback=on_progress
        )
        done = time.monotonic()
    assert text_of(result) == "3 steps"
    assert len(arrivals) == 3
    # The first step arrived while the tool was still working, not with the result.
    assert done - arrivals[0] >= 1.0


async def test_big_results_and_concurrent_calls(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        big = await client.call_tool("remote__big", {"size": 3_000_000})
        assert len(text_of(big)) == 3_000_000
        replies = await asyncio.gather(
            *(
                client.call_tool(f"{s}__add", {"a": i, "b": 1})
                for i in range(20)
                for s in ("remote", "jsonmode")
            )
        )
        assert sorted(int(text_of(r)) for r in replies) == sorted([i + 1 for i in range(20)] * 2)


async def test_session_id_and_protocol_version_are_kept(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        for _ in range(3):
            await client.call_tool("remote__whoami", {})
        requests = await seen_requests(client, "remote__seen_requests")
    assert _initializes(requests) == 1
    in_session = [r for r in requests if "mcp-session-id" in r["headers"]]
    assert len({r["headers"]["mcp-session-id"] for r in in_session}) == 1
    assert {r["headers"].get("mcp-protocol-version") for r in in_session} == {"2025-11-25"}
    assert any(r["method"] == "GET" for r in in_session), "the server's own stream was opened"
    posts = [r for r in requests if r["method"] == "POST"]
    assert all("application/json" in r["headers"]["accept"] for r in posts)
    assert all("text/event-stream" in r["headers"]["accept"] for r in posts)


async def test_client_credentials_never_reach_the_upstream(gateway: RunningGateway) -> None:
    headers = {
        "authorization": f"Bearer {ALICE_KEY}",
        "x-client-secret": "client-only-value",
        "cookie": "client-cookie=client-only-value",
    }
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=60.0))
    async with Client(streamable_http_client(gateway.url, http_client=http), mode="legacy") as client:
        await client.call_tool("remote__echo", {"text": "x"})
        await client.call_tool("legacy__echo", {"text": "x"})
        remote = await seen_requests(client, "remote__seen_requests")
        legacy = await seen_requests(client, "legacy__seen_requests")
    for request in remote:
        assert request["headers"]["authorization"] == UPSTREAM_SECRET
        assert request["headers"]["x-upstream-tenant"] == "acme"
    for request in legacy:
        assert "authorization" not in request["headers"]
        assert "x-upstream-tenant" not in request["headers"], "each server has only its own headers"
    for request in remote + legacy:
        assert "x-client-secret" not in request["headers"]
        assert "cookie" not in request["headers"]
        seen = json.dumps(request)
        assert ALICE_KEY not in seen
        assert "client-only-value" not in seen


async def test_cancelling_a_call_reaches_the_http_upstream(
    gateway: RunningGateway, remotes: dict[str, HttpFixture]
) -> None:
    cancel_log: Path = remotes["remote"].extra["cancel_log"]
    before = cancel_log.read_text().count("cancelled") if cancel_log.exists() else 0
    async with gateway.client(mode="legacy") as client:
        with pytest.raises(MCPError):
            await client.call_tool("remote__slow", {"seconds": 30}, read_timeout_seconds=0.5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if cancel_log.exists() and cancel_log.read_text().count("cancelled") > before:
                break
            await asyncio.sleep(0.05)
        assert cancel_log.read_text().count("cancelled") > before
        assert text_of(await client.call_tool("remote__echo", {"text": "next"})) == "remote:next"


async def test_restarted_upstream_gets_one_transparent_reinitialize(tmp_path: Path) -> None:
    with http_fixture(tmp_path, "phoenix") as phoenix:
        phoenix_server = {"url": phoenix.url, "era": "legacy"}  # sessions are of the initialize era
        settings = default_settings({"phoenix": phoenix_server}, middleware=FAST_MIDDLEWARE)
        with running_gateway(tmp_path, settings) as gateway:
            async with gateway.client(mode="legacy") as client:
                first = await pid_of(client, "phoenix__pid")
                phoenix.restart()  # same port, every session forgotten
                assert text_of(await client.call_tool("phoenix__echo", {"text": "again"})) == "phoenix:again"
                assert await pid_of(client, "phoenix__pid") != first
                requests = await seen_requests(client, "phoenix__seen_requests")
            log = gateway.log()
    assert _initializes(requests) == 1, "exactly one re-initialize reached the new server"
    assert "forgot our session; initializing a new one" in log
    assert log.count("forgot our session; initializing a new one") == 1


async def test_unreachable_url_is_a_clear_upstream_error(tmp_path: Path) -> None:
    port = free_port()
    settings = default_settings(
        {
            "local": fixture_server("local", "--tools-only"),
            "gone": {"url": f"http://user:hunter2@127.0.0.1:{port}/mcp?token=query-secret", "timeout": 2},
        },
        middleware=FAST_MIDDLEWARE,
    )
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            with pytest.raises(MCPError) as caught:
                await client.call_tool("gone__echo", {"text": "x"})
            message = caught.value.error.message
            assert "'gone'" in message
            assert f"could not connect to http://127.0.0.1:{port}/mcp" in message
            assert "hunter2" not in message and "query-secret" not in message
            assert text_of(await client.call_tool("local__echo", {"text": "ok"})) == "local:ok"
        assert httpx2.get(f"{gateway.base}/healthz").status_code == 200
        assert "hunter2" not in gateway.log() and "query-secret" not in gateway.log()


async def test_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls_args = ("--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key))
    with http_fixture(
        tmp_path,
        "vault",
        "--tools-only",
        *tls_args,
        "--client-ca",
        str(pki.ca),
        scheme="https",
        host="localhost",
    ) as vault:
        client_cert = {"client_cert": str(pki.client_cert), "client_key": str(pki.client_key)}
        settings = default_settings(
            {
                "local": fixture_server("local", "--tools-only"),
                "vault": {"url": vault.url, "tls": {"ca_bundle": str(pki.ca), **client_cert}},
                "nocert": {"url": vault.url, "tls": {"ca_bundle": str(pki.ca)}},
                "untrusted": {"url": vault.url, "tls": {"ca_bundle": str(pki.other_ca), **client_cert}},
            },
            middleware=FAST_MIDDLEWARE,
        )
        with running_gateway(tmp_path, settings) as gateway:
            async with gateway.client(mode="legacy") as client:
                assert text_of(await client.call_tool("vault__echo", {"text": "s"})) == "vault:s"
                with pytest.raises(MCPError) as no_cert:
                    await client.call_tool("nocert__echo", {"text": "s"})
                with pytest.raises(MCPError) as untrusted:
                    await client.call_tool("untrusted__echo", {"text": "s"})
                assert text_of(await client.call_tool("local__echo", {"text": "ok"})) == "local:ok"
    no_cert_message = no_cert.value.error.message
    assert "'nocert'" in no_cert_message
    assert "client certificate" in no_cert_message and "tls.client_cert" in no_cert_message
    untrusted_message = untrusted.value.error.message
    assert "'untrusted'" in untrusted_message
    assert "failed TLS verification" in untrusted_message, untrusted_message
