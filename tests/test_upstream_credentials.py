"""Each upstream's own credentials, in process against real servers on 127.0.0.1: secrets named
by ``${VAR}`` and ``file:``, OAuth client credentials at the test issuer (cached, refreshed,
retried with backoff, mTLS per RFC 8705), per-user token exchange (RFC 8693), and the one
refresh and retry a 401 earns. The gateway end to end is in ``test_upstream_credentials_gateway``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from gateway.parts import stdio_connector
from gateway.settings import ServerSettings, Settings, explain
from middleware.protocol import SUBJECT_TOKEN_KEY, Principal
from middleware.protocol.testing import call, make_test_scope
from tests.fixtures.credential_upstream import RecordingUpstream, fingerprint
from tests.fixtures.mtls_token_endpoint import mtls_token_endpoint
from tests.fixtures.oauth_issuer import Issuer, running_issuer
from tests.http_fixtures import make_pki
from tests.support import ROOT, serving
from upstream.errors import UpstreamError
from upstream.pool.credential_refs import SecretMissing, resolve
from upstream.pool.credentials import CALLER, Caller, CallerContext, credentials_factory
from upstream.pool.oauth_client import OAuthClientConfig, TokenEndpoint, client_credentials_form
from upstream.pool.supervisor import ServerSpec, open_connection
from upstream.session.connection import UpstreamConnection
from upstream.transports.http import http_transport
from upstream.transports.http_auth import CredentialsUnavailable, HttpAuth
from upstream.transports.reaper import Reaper
from upstream.transports.stdio import StdioTransport

pytestmark = pytest.mark.timeout(30)

SECRET = "gw-secret-0123456789"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        running.register_client("gw", SECRET, scope="files:read files:write", audience="http://files")
        running.register_client("gw-short", SECRET, audience="http://files", expires_in=2)
        running.register_client("gw-4s", SECRET, audience="http://files", expires_in=4)
        running.register_client("gw-exchange", SECRET, audience="http://personal")
        yield running


def oauth(at: Issuer, client_id: str = "gw", **options: Any) -> OAuthClientConfig:
    settings: dict[str, Any] = {
        "token_url": at.token_url,
        "client_secret": SECRET,
        "audience": "http://files",
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        **options,
    }
    return OAuthClientConfig(server="files", client_id=client_id, **settings)


def client_auth(config: OAuthClientConfig) -> HttpAuth:
    factory = credentials_factory("files", {}, config)
    assert factory is not None
    return factory()


def token_of(headers: Any) -> str:
    scheme, _, token = str(headers["Authorization"]).partition(" ")
    assert scheme == "Bearer"
    return token


# --- secrets named in settings --------------------------------------------------------------


def test_references_read_the_environment_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILES_TOKEN", "tok-123")
    secret = tmp_path / "key"
    secret.write_text("  from-a-file\n")
    assert (
        resolve("Bearer ${FILES_TOKEN}", "servers.f.headers.Authorization", header=True) == "Bearer tok-123"
    )
    assert resolve(f"file:{secret}", "servers.f.env.API_KEY", header=False) == "from-a-file"
    assert resolve("plain value", "servers.f.headers.X", header=True) == "plain value"


def test_a_missing_secret_names_the_setting_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(SecretMissing) as unset:
        resolve("Bearer ${NOT_SET_ANYWHERE}", "servers.f.headers.Authorization", header=True)
    assert unset.value.detail == (
        "servers.f.headers.Authorization: the environment variable NOT_SET_ANYWHERE is not set; set it "
        "in the gateway's environment, or refer to a file with file:/path"
    )
    missing = tmp_path / "nope"
    with pytest.raises(SecretMissing) as unreadable:
        resolve(f"file:{missing}", "servers.f.env.API_KEY", header=False)
    assert unreadable.value.detail.startswith(f"servers.f.env.API_KEY: cannot read '{missing}' (No such file")
    assert unreadable.value.__cause__ is None  # not mistaken for "command not found" by the health page
    broken = tmp_path / "broken"
    broken.write_text("line one\nline two")
    with pytest.raises(SecretMissing, match="contains a line break"):
        resolve(f"file:{broken}", "servers.f.headers.X", header=True)


def _problems(server: dict[str, Any]) -> list[str]:
    try:
        Settings(servers={"s": server})
    except ValidationError as exc:
        return [explain(error) for error in exc.errors()]
    return []


def test_settings_refuse_unusable_credentials_without_quoting_secrets() -> None:
    url = "https://mcp.example.com/mcp"
    literal = "literal-secret-value"
    base = {"client_id": "gw", "client_secret": literal}
    cases = {
        "set exactly one of `token_url` or `issuer`": {"url": url, "oauth": base},
        "`token_url` must be an https:// URL (plain http:// only to a loopback address)": {
            "url": url,
            "oauth": {**base, "token_url": "http://idp.example.com/token"},
        },
        "auth_method tls_client_auth needs `client_cert`": {
            "url": url,
            "oauth": {"client_id": "gw", "token_url": "https://idp/token", "auth_method": "tls_client_auth"},
        },
        'set session_mode = "per_client"': {
            "url": url,
            "oauth": {**base, "token_url": "https://idp/token", "grant": "token_exchange"},
        },
        "`oauth` sets the Authorization header; remove it from `headers`": {
            "url": url,
            "headers": {"authorization": "Bearer x"},
            "oauth": {**base, "token_url": "https://idp/token"},
        },
        "`headers.X`: `file:` needs an absolute path ('secret' is relative)": {
            "url": url,
            "headers": {"X": "file:secret"},
        },
        "`env.KEY`: `${` must start a reference to an environment variable": {
            "command": "python",
            "env": {"KEY": "${not a name}"},
        },
        "`oauth` apply to HTTP servers": {"command": "python", "oauth": {**base, "token_url": "https://i/t"}},
    }
    for expected, server in cases.items():
        problems = _problems(server)
        assert any(expected in problem for problem in problems), (expected, problems)
        assert not any(literal in problem for problem in problems)
    assert _problems({"url": url, "oauth": {**base, "token_url": "http://127.0.0.1:9/token"}}) == []
    assert _problems({"url": url, "headers": {"A": "Bearer ${TOKEN}", "B": "file:/run/secrets/b"}}) == []


def test_the_documented_settings_are_valid() -> None:
    """Every TOML block of docs/upstream-credentials.md is settings the gateway accepts."""
    text = (ROOT / "docs" / "upstream-credentials.md").read_text()
    blocks = re.findall(r"^```toml\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 5
    for block in blocks:
        settings = Settings(**tomllib.loads(block))
        assert settings.servers


# --- OAuth client credentials ---------------------------------------------------------------


async def test_a_token_is_fetched_once_and_shared(issuer: Issuer) -> None:
    before = issuer.requests["token"]
    auth = client_auth(oauth(issuer, scope="files:read"))
    answers = await asyncio.gather(*(auth.headers() for _ in range(20)))
    assert issuer.requests["token"] == before + 1, "concurrent calls share one fetch"
    assert len({token_of(headers) for headers in answers}) == 1
    claims = issuer.verify(token_of(answers[0]))
    assert (claims["sub"], claims["aud"], claims["scope"]) == ("gw", "http://files", "files:read")
    assert token_of(await auth.headers()) == token_of(answers[0])
    assert issuer.requests["token"] == before + 1, "and the token is reused"
    assert issuer.token_requests[-1]["auth_method"] == "client_secret_basic"


async def test_client_secret_post_and_a_secret_from_a_file(issuer: Issuer, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    config = oauth(issuer, client_secret=f"file:{secret_file}", auth_method="client_secret_post")
    claims = issuer.verify(token_of(await client_auth(config).headers()))
    assert claims["sub"] == "gw"
    assert issuer.token_requests[-1]["auth_method"] == "client_secret_post"


async def test_the_token_endpoint_is_found_from_the_issuer_metadata(issuer: Issuer) -> None:
    before = issuer.requests["metadata"]
    config = oauth(issuer, token_url=None, issuer=issuer.url)
    assert issuer.verify(token_of(await client_auth(config).headers()))["sub"] == "gw"
    assert issuer.requests["metadata"] == before + 1


async def test_an_expired_token_is_replaced(issuer: Issuer) -> None:
    auth = client_auth(oauth(issuer, "gw-short", refresh_margin=0))
    first = token_of(await auth.headers())
    before = issuer.requests["token"]
    await asyncio.sleep(2.1)
    second = token_of(await auth.headers())
    assert second != first
    assert issuer.requests["token"] == before + 1


async def test_a_token_is_refreshed_before_it_expires_without_making_anyone_wait(issuer: Issuer) -> None:
    auth = client_auth(oauth(issuer, "gw-4s"))  # the margin is at most half the lifetime: 2s here
    first = token_of(await auth.headers())
    before = issuer.requests["token"]
    await asyncio.sleep(2.1)
    assert token_of(await auth.headers()) == first, "still good: sent while the next one is fetched"
    deadline = time.monotonic() + 5
    while issuer.requests["token"] == before and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert token_of(await auth.headers()) != first
    assert issuer.requests["token"] == before + 1


async def test_a_failing_token_endpoint_is_retried_with_backoff(issuer: Issuer) -> None:
    before = issuer.requests["token"]
    issuer.fail_token(2)
    started = time.monotonic()
    token = token_of(await client_auth(oauth(issuer)).headers())
    assert issuer.verify(token)["sub"] == "gw"
    assert issuer.requests["token"] == before + 3
    assert time.monotonic() - started >= 0.025 + 0.05, "it waited between the tries"
    issuer.fail_token(3)
    with pytest.raises(CredentialsUnavailable) as caught:
        await client_auth(oauth(issuer)).headers()
    assert caught.value.detail.startswith(
        f"servers.files.oauth: the token endpoint {issuer.token_url} answered HTTP 503 "
        "(temporarily_unavailable) (3 attempts)"
    )


async def test_a_refused_client_is_not_retried_and_its_secret_not_shown(issuer: Issuer) -> None:
    before = issuer.requests["token"]
    with pytest.raises(CredentialsUnavailable) as caught:
        await client_auth(oauth(issuer, client_secret="wrong-secret-value")).headers()
    assert issuer.requests["token"] == before + 1
    assert "HTTP 401 (invalid_client: unknown client or wrong secret); check client_id" in caught.value.detail
    assert "wrong-secret-value" not in caught.value.detail


async def test_mutual_tls_client_authentication(issuer: Issuer, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    async with mtls_token_endpoint(pki, issuer, {"gw-mtls": "portcullis-gateway"}) as endpoint:
        mtls = {
            "token_url": endpoint.url,
            "auth_method": "tls_client_auth",
            "client_secret": None,
            "client_cert": str(pki.client_cert),
            "client_key": str(pki.client_key),
            "ca_bundle": str(pki.ca),
        }
        token = token_of(await client_auth(oauth(issuer, "gw-mtls", **mtls)).headers())
        claims = issuer.verify(token)
        assert (claims["sub"], claims["aud"]) == ("gw-mtls", "http://files")
        assert "x5t#S256" in claims["cnf"], "the token is bound to our certificate"
        assert endpoint.requests == [
            {"client_id": "gw-mtls", "subject": "portcullis-gateway", "grant_type": "client_credentials"}
        ]
        anonymous = {**mtls, "client_cert": None, "client_key": None, "max_attempts": 1}
        with pytest.raises(CredentialsUnavailable, match="could not reach the token endpoint"):
            await TokenEndpoint(oauth(issuer, "gw-mtls", **anonymous)).grant(
                client_credentials_form(oauth(issuer))
            )
        assert len(endpoint.requests) == 1, "no token without the client certificate"


# --- per-user tokens by exchange ------------------------------------------------------------


async def test_token_exchange_gives_each_user_their_own_token(issuer: Issuer) -> None:
    config = oauth(issuer, "gw-exchange", audience="http://personal")
    factory = credentials_factory("personal", {}, config, "token_exchange")
    assert factory is not None
    seen: dict[str, str] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        name = scope["principal"].name
        seen[name] = token_of(await factory().headers())

    before = issuer.requests["token"]
    for user in ("alice", "bob", "alice"):
        scope = make_test_scope("tools/call", {"name": "x"}, principal=Principal(user))
        scope["http"] = {SUBJECT_TOKEN_KEY: issuer.mint(user, aud="http://gateway/mcp")}
        await call(CallerContext(inner), scope)
    assert issuer.requests["token"] == before + 2, (
        "one exchange per user; alice's second connection reuses hers"
    )
    for user in ("alice", "bob"):
        claims = issuer.verify(seen[user])
        assert (claims["sub"], claims["aud"], claims["act"]) == (
            user,
            "http://personal",
            {"sub": "gw-exchange"},
        )
    assert issuer.token_requests[-1]["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"


async def test_token_exchange_needs_a_verified_token_and_keeps_to_its_principal(issuer: Issuer) -> None:
    config = oauth(issuer, "gw-exchange", audience="http://personal")
    factory = credentials_factory("personal", {}, config, "token_exchange")
    assert factory is not None
    auth = factory()
    reset = CALLER.set(Caller(Principal("carol")))  # an API-key caller: no token to exchange
    try:
        with pytest.raises(CredentialsUnavailable, match="needs the caller's bearer token"):
            await auth.headers()
    finally:
        CALLER.reset(reset)
    auth = factory()
    reset = CALLER.set(Caller(Principal("alice"), issuer.mint("alice")))
    try:
        await auth.headers()
    finally:
        CALLER.reset(reset)
    reset = CALLER.set(Caller(Principal("bob"), issuer.mint("bob")))  # a task that inherited bob's call
    try:
        assert issuer.verify(token_of(await auth.headers()))["sub"] == "alice", "the connection is alice's"
    finally:
        CALLER.reset(reset)


# --- a 401 earns one refresh and one retry --------------------------------------------------


@contextlib.asynccontextmanager
async def connected(upstream: RecordingUpstream, auth: Any, headers: Any = None) -> AsyncIterator[Any]:
    async with serving(upstream.app()) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        spec = ServerSpec(
            name=upstream.name,
            connect=lambda: http_transport(
                upstream.name, url, headers=headers, auth=auth() if auth else None
            ),
            era="legacy",
            probe_timeout=None,
        )
        connection = await open_connection(spec, {"name": "test"}, lambda *_: None)
        try:
            yield connection
        finally:
            await connection.close()


async def whoami(connection: UpstreamConnection) -> dict[str, Any]:
    response = await connection.request("tools/call", {"name": "whoami", "arguments": {}})
    if "error" in response:
        return dict(response)
    result: dict[str, Any] = orjson.loads(response["result"]["content"][0]["text"])
    return result


async def test_a_refused_token_is_refreshed_once_and_the_call_retried(issuer: Issuer) -> None:
    upstream = RecordingUpstream(name="files", verify=issuer.verify, audience="http://files")
    factory = credentials_factory("files", {}, oauth(issuer))
    async with connected(upstream, factory) as connection:
        assert (await whoami(connection))["sub"] == "gw"
        fetched = issuer.requests["token"]
        upstream.refuse(1)
        sent = len(upstream.requests)
        assert (await whoami(connection))["sub"] == "gw"
        assert issuer.requests["token"] == fetched + 1, "the refused token was replaced"
        assert len(upstream.requests) == sent + 2 and upstream.refused == 1
        tokens = [r["headers"]["authorization"] for r in upstream.requests[-2:]]
        assert tokens[0] != tokens[1]

        upstream.refuse_all = True
        sent = len(upstream.requests)
        answer = await whoami(connection)
        assert len(upstream.requests) == sent + 2, "one retry, no more"
    error = answer["error"]
    assert error["data"]["fault"] == "upstream" and error["data"]["status"] == 401
    assert error["message"].startswith(
        "upstream server 'files' refused our credentials (HTTP 401 Unauthorized from http://127.0.0.1:"
    )
    assert "), also after renewing them; check servers.files.oauth (scope, audience" in error["message"]


async def test_a_token_endpoint_down_mid_session_fails_that_call_only(issuer: Issuer) -> None:
    upstream = RecordingUpstream(name="files", verify=issuer.verify, audience="http://files")
    async with connected(upstream, credentials_factory("files", {}, oauth(issuer))) as connection:
        assert (await whoami(connection))["sub"] == "gw"
        upstream.refuse(1)  # the token is refused, and no new one can be had
        issuer.fail_token(3)
        error = (await whoami(connection))["error"]
        assert error["data"]["fault"] == "upstream"
        assert error["message"] == (
            "upstream server 'files' could not get its credentials: servers.files.oauth: the token endpoint "
            f"{issuer.token_url} answered "
            "HTTP 503 (temporarily_unavailable) (3 attempts); check that the authorization server is up "
            "and reachable from the gateway"
        )
        assert (await whoami(connection))["sub"] == "gw", "the session lives on; the next call gets a token"


async def test_a_refused_secret_is_read_again_and_retried_only_if_it_changed(tmp_path: Path) -> None:
    secret = tmp_path / "tenant"
    secret.write_text("acme\n")
    upstream = RecordingUpstream(name="files", token="old-value")
    references = {"Authorization": "Bearer ${ROTATING_TOKEN}", "X-Tenant": f"file:{secret}"}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROTATING_TOKEN", "old-value")
        async with connected(
            upstream, credentials_factory("files", references), {"X-Plain": "1"}
        ) as connection:
            assert (await whoami(connection))["token"] == fingerprint("old-value")
            assert upstream.requests[-1]["headers"]["x-tenant"] == "acme"
            assert upstream.requests[-1]["headers"]["x-plain"] == "1"
            upstream.token = "new-value"  # the upstream rotated it; the gateway's copy is old
            sent = len(upstream.requests)
            refused = await whoami(connection)
            assert len(upstream.requests) == sent + 1, "the same secret is not sent twice"
            assert "check servers.files.headers and the secrets they name" in refused["error"]["message"]
            env.setenv("ROTATING_TOKEN", "new-value")  # ...and now the gateway's is new too
            sent = len(upstream.requests)
            assert (await whoami(connection))["token"] == fingerprint("new-value")
            assert len(upstream.requests) == sent + 2, "refused, read again, retried"


def test_a_stdio_server_gets_its_environment_secrets_when_it_starts(tmp_path: Path) -> None:
    server = ServerSettings(command="python", env={"API_KEY": f"file:{tmp_path / 'key'}", "PLAIN": "1"})
    connect = stdio_connector("local", server, Reaper())
    with pytest.raises(UpstreamError) as caught:
        connect()
    assert caught.value.detail.startswith(
        "failed to start: could not get its credentials: servers.local.env.API_KEY: cannot read "
        f"'{tmp_path / 'key'}' (No such file"
    )
    (tmp_path / "key").write_text("k-1\n")
    transport = connect()  # read again at each start: the file is there now
    assert isinstance(transport, StdioTransport)


async def test_a_missing_secret_fails_the_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILES_TOKEN_UNSET", raising=False)
    upstream = RecordingUpstream(name="files")
    factory = credentials_factory("files", {"Authorization": "Bearer ${FILES_TOKEN_UNSET}"})
    with pytest.raises(UpstreamError) as caught:
        async with connected(upstream, factory):
            pass
    assert caught.value.detail == (
        "failed to start: could not get its credentials: servers.files.headers.Authorization: the "
        "environment variable FILES_TOKEN_UNSET "
        "is not set; set it in the gateway's environment, or refer to a file with file:/path"
    )
    assert upstream.requests == [], "nothing was sent without its credentials"
