"""Each upstream's own credentials through the real gateway: headers and environment values from
``${VAR}`` and ``file:``, OAuth client credentials and per-user token exchange at the test
issuer, a 401 refreshed and retried once — and no client credential (API key, OIDC bearer JWT,
an auth provider's key or JWT, a cookie) reaching any upstream, nor any secret reaching the log,
``portcullis check`` or /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import orjson
import pytest
from aiohttp import web
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from middleware.auth.api_key import hash_key
from tests.fixtures.credential_upstream import RecordingUpstream, fingerprint
from tests.fixtures.oauth_issuer import Issuer, running_issuer
from tests.support import ALICE_KEY, ROOT, RunningGateway, default_settings, serving, start_gateway, text_of

pytestmark = pytest.mark.timeout(60)

EXAMPLES = "tests.fixtures.enkrypt.examples"
ENV_SERVER = ROOT / "tests" / "fixtures" / "env_server.py"
HS256_SECRET = "jwt-test-secret-0123456789abcdef0123"
PROVIDER_KEY = "enkrypt-key-1"
COOKIE_VALUE = "client-cookie-value-42"
UPSTREAM_TOKEN = "upstream-static-token-7f3a"
TENANT = "tenant-from-a-file-91c2"
LOCAL_KEY = "local-key-from-a-file-5d10"
LOCAL_ENV = "local-value-from-env-3e77"
CLIENT_SECRET = "gw-client-secret-b4e1"
CAROL_KEY = "pcs_test_carol_key_5555555555"
QUIET = {"guardrails": {"preset": "off", "store": "memory"}}


@contextlib.asynccontextmanager
async def gateway_for(
    tmp_path: Path, settings: dict[str, Any], env: dict[str, str]
) -> AsyncIterator[RunningGateway]:
    """The gateway, stopped while this event loop still runs: the upstreams it says goodbye to
    (DELETE of their sessions) are served by this loop."""
    gateway = await asyncio.to_thread(start_gateway, tmp_path, settings, env=env)
    try:
        yield gateway
    finally:
        await asyncio.to_thread(gateway.stop)


@contextlib.asynccontextmanager
async def upstream_at(upstream: RecordingUpstream) -> AsyncIterator[str]:
    async with serving(upstream.app()) as port:
        yield f"http://127.0.0.1:{port}/mcp"


@contextlib.asynccontextmanager
async def auth_service() -> AsyncIterator[str]:
    """The seed's custom API-key provider asks this service who a key belongs to."""

    async def validate(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {PROVIDER_KEY}":
            return web.json_response({"error": "unknown key"}, status=401)
        return web.json_response({"user_id": "carol", "project_id": "p", "config": {}, "permissions": []})

    app = web.Application()
    app.router.add_post("/auth/validate", validate)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


def client(url: str, **headers: str) -> Client:
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=60.0))
    return Client(streamable_http_client(url, http_client=http), mode="legacy")


def assert_no_client_credential(upstream: RecordingUpstream, *secrets: str) -> None:
    """No request the upstream got carries anything of the clients' credentials."""
    assert upstream.requests
    for request in upstream.requests:
        headers = request["headers"]
        assert not {"cookie", "x-api-key", "apikey"} & set(headers), headers
        seen = json.dumps(headers)
        for secret in secrets:
            assert secret not in seen


def assert_nowhere(texts: list[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


# --- static headers and environment values ----------------------------------------------


async def test_secrets_from_the_environment_and_files_and_nothing_of_the_clients(tmp_path: Path) -> None:
    (tmp_path / "tenant").write_text(TENANT + "\n")
    (tmp_path / "key").write_text(LOCAL_KEY)
    files = RecordingUpstream(name="files", token=UPSTREAM_TOKEN)
    hs256 = jwt.encode({"user_id": "dave", "exp": int(time.time()) + 600}, HS256_SECRET, algorithm="HS256")
    async with upstream_at(files) as files_url, auth_service() as service:
        servers = {
            "files": {
                "url": files_url,
                "era": "legacy",
                "headers": {
                    "Authorization": "Bearer ${FILES_TOKEN}",
                    "X-Tenant": f"file:{tmp_path / 'tenant'}",
                    "X-Plain": "visible",
                },
            },
            "local": {
                "command": sys.executable,
                "args": [str(ENV_SERVER)],
                "era": "legacy",
                "env": {"API_KEY": f"file:{tmp_path / 'key'}", "FROM_ENV": "${LOCAL_VALUE}"},
            },
            "broken": {
                "url": files_url,
                "era": "legacy",
                "headers": {"X-Key": "${UNSET_FOR_BROKEN}"},
                "restart": {"backoff_initial": 0.01, "backoff_max": 0.02, "max_restarts": 100},
            },
        }
        plugins = {
            "auth": [
                {
                    "provider": f"{EXAMPLES}.custom_api_key:MyAuthProvider",
                    "config": {"api_endpoint": service},
                },
                {"provider": f"{EXAMPLES}.jwt_auth:JWTAuthProvider", "config": {"secret_key": HS256_SECRET}},
            ]
        }
        settings = default_settings(servers, plugins=plugins, **QUIET)
        env = {"FILES_TOKEN": UPSTREAM_TOKEN, "LOCAL_VALUE": LOCAL_ENV}
        async with gateway_for(tmp_path, settings, env) as gateway:
            callers = [
                {"authorization": f"Bearer {ALICE_KEY}", "cookie": f"session={COOKIE_VALUE}"},
                {"x-api-key": ALICE_KEY},
                {"apikey": PROVIDER_KEY},  # the custom API-key provider
                {"authorization": f"Bearer {hs256}"},  # the JWT provider
            ]
            for headers in callers:
                async with client(gateway.url, **headers) as session:
                    whoami = json.loads(text_of(await session.call_tool("files__whoami", {})))
                    assert whoami["token"] == fingerprint(UPSTREAM_TOKEN)
            async with gateway.client() as session:
                assert text_of(await session.call_tool("local__env", {"name": "API_KEY"})) == fingerprint(
                    LOCAL_KEY
                )
                assert text_of(await session.call_tool("local__env", {"name": "FROM_ENV"})) == fingerprint(
                    LOCAL_ENV
                )
            async with gateway.client(url=gateway.server_url("broken")) as session:
                assert (await session.list_tools()).tools == []  # failed: the others are served
                with pytest.raises(MCPError) as refused:
                    await session.call_tool("echo", {"text": "x"})
            health = httpx2.get(f"{gateway.base}/healthz", timeout=5).text
            check = subprocess.run(
                [sys.executable, "-m", "gateway", "check", "--settings", str(gateway.settings_path)],
                cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            log = gateway.log()
    assert "servers.broken.headers.X-Key: the environment variable UNSET_FOR_BROKEN is not set" in str(
        refused.value
    )
    assert json.loads(health)["servers"]["broken"]["state"] == "failed"
    assert "servers.broken.headers.X-Key: the environment variable UNSET_FOR_BROKEN is not set" in log
    for request in files.requests:
        headers = request["headers"]
        assert headers["authorization"] == f"Bearer {UPSTREAM_TOKEN}"
        assert (headers["x-tenant"], headers["x-plain"]) == (TENANT, "visible")
    assert_no_client_credential(files, ALICE_KEY, PROVIDER_KEY, hs256, COOKIE_VALUE)
    secrets = (UPSTREAM_TOKEN, TENANT, LOCAL_KEY, LOCAL_ENV, ALICE_KEY, PROVIDER_KEY, hs256, COOKIE_VALUE)
    assert_nowhere([log, health, check.stdout, check.stderr], *secrets)
    assert check.returncode == 0, check.stderr


# --- OAuth: client credentials, token exchange, 401 -------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


async def whoami(session: Client, tool: str) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(text_of(await session.call_tool(tool, {})))
    return result


async def test_oauth_tokens_per_server_and_per_user(issuer: Issuer, tmp_path: Path) -> None:
    files = RecordingUpstream(name="files", verify=issuer.verify)
    personal = RecordingUpstream(name="personal", verify=issuer.verify)
    async with upstream_at(files) as files_url, upstream_at(personal) as personal_url:
        files.audience, personal.audience = files_url, personal_url
        issuer.register_client("gw", CLIENT_SECRET, scope="files:read", audience=files_url)
        issuer.register_client("gw-exchange", CLIENT_SECRET, audience=personal_url)
        secret = {"client_secret": "${GW_CLIENT_SECRET}", "token_url": issuer.token_url}
        servers = {
            "files": {
                "url": files_url,
                "era": "legacy",
                "oauth": {"client_id": "gw", "scope": "files:read", "resource": files_url, **secret},
            },
            "personal": {
                "url": personal_url,
                "era": "legacy",
                "session_mode": "per_client",
                "oauth": {
                    "grant": "token_exchange",
                    "client_id": "gw-exchange",
                    "audience": personal_url,
                    **secret,
                },
            },
        }
        settings = default_settings(servers, **QUIET)
        settings["auth"]["oidc"] = {"issuer": issuer.url}
        settings["auth"]["api_keys"].append({"principal": "carol", "sha256": hash_key(CAROL_KEY)})
        async with gateway_for(tmp_path, settings, {"GW_CLIENT_SECRET": CLIENT_SECRET}) as gateway:
            jwts = {user: issuer.mint(user, aud=gateway.url) for user in ("alice", "bob")}
            fetched = issuer.requests["token"]
            async with gateway.client(key=jwts["alice"]) as alice, gateway.client(key=jwts["bob"]) as bob:
                for session in (alice, bob, alice):
                    claims = await whoami(session, "files__whoami")
                    assert (claims["sub"], claims["aud"], claims["scope"]) == ("gw", files_url, "files:read")
                assert (await whoami(alice, "personal__whoami"))["sub"] == "alice"
                assert (await whoami(bob, "personal__whoami"))["sub"] == "bob"
                assert (await whoami(alice, "personal__whoami"))["aud"] == personal_url
            async with gateway.client(key=jwts["alice"], mode="legacy") as again:  # her token is reused
                assert (await whoami(again, "personal__whoami"))["sub"] == "alice"
            assert issuer.requests["token"] == fetched + 3, "one for the server, one exchange per user"
            async with gateway.client(key=CAROL_KEY) as by_key:  # an API key: nothing to exchange
                for _ in range(7):  # more than the crash-loop limit: a caller's fault, not the server's
                    with pytest.raises(MCPError) as refused:
                        await by_key.call_tool("personal__whoami", {})
            assert refused.value.data["fault"] == "client" and refused.value.code == -32011
            assert "authenticated without a bearer token from the identity provider" in refused.value.message
            issuer.fail_token(7, status=400)  # the authorization server refuses dora's exchange...
            dora = issuer.mint("dora", aud=gateway.url)
            async with gateway.client(key=dora) as session:
                for _ in range(7):
                    with pytest.raises(MCPError, match="refused the request: HTTP 400"):
                        await session.call_tool("personal__whoami", {})
                assert (await whoami(session, "personal__whoami"))["sub"] == "dora"  # ...then accepts it

            async with gateway.client(key=jwts["alice"]) as session:
                fetched = issuer.requests["token"]
                files.refuse(1)
                assert (await whoami(session, "files__whoami"))["sub"] == "gw"
                assert issuer.requests["token"] == fetched + 1, "the refused token was replaced"
                files.refuse_all = True
                sent = len(files.requests)
                with pytest.raises(MCPError) as failed:
                    await session.call_tool("files__whoami", {})
                assert len(files.requests) == sent + 2, "one retry, then a clear error"
            log = gateway.log()
    error = failed.value
    assert error.data["fault"] == "upstream" and error.data["status"] == 401
    assert error.message.startswith("upstream server 'files' refused our credentials (HTTP 401 Unauthorized")
    assert "), also after renewing them; check servers.files.oauth (scope, audience" in error.message
    assert_no_client_credential(files, CAROL_KEY, dora, *jwts.values())
    assert_no_client_credential(personal, CAROL_KEY, dora, *jwts.values())
    sent_tokens = {
        r["headers"]["authorization"].removeprefix("Bearer ") for r in files.requests + personal.requests
    }
    assert_nowhere([log], CLIENT_SECRET, CAROL_KEY, dora, *jwts.values(), *sent_tokens)
