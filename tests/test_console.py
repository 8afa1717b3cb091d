"""The web console without a browser: login, sessions, CSRF, origins, headers, escaping, and the
recent audit records it reads (also served as GET /api/v1/audit/recent)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from gateway.audit import RecentAudit
from gateway.console import views
from gateway.console.session import IDLE, LIFETIME, Sessions
from gateway.state.guardrail_stores import SqliteStore
from middleware.auth.api_key import hash_key
from middleware.guardrails.pin_records import PinRecord
from middleware.protocol.audit import AUDIT_LOGGER, AUDIT_TEMPLATE, http_audit_record
from tests.support import (
    ALICE_KEY,
    INITIALIZE,
    RunningGateway,
    default_settings,
    fixture_server,
    free_port,
    running_gateway,
)

pytestmark = pytest.mark.timeout(90)

ADMIN_TOKEN = "pca_test_console_token_0123456789abcdef"
XSS = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
MARKUP_TOOL = "alpha__<img src=x onerror=\"document.title='pwned'\">"
POLICIES = [
    {"name": "no-crash", "effect": "deny", "tools": ["alpha__crash", "crash"]},
    {"name": "no-markup", "effect": "deny", "tools": ["*<*"]},
]


def seed_pins(store: Path) -> None:
    """A pin for alpha's echo whose approved definition differs from what alpha serves (so it is
    'changed' once a client lists tools), with markup in its description."""
    record = PinRecord(
        "tool", "alpha", "echo", approved="0" * 64, approved_definition={"description": XSS}, approved_at=1.0
    )
    asyncio.run(SqliteStore(store).set_many({record.key: record.dumps()}))


def console_settings(tmp: Path, port: int, *, token: bool = True) -> dict[str, Any]:
    store = tmp / "state.db"
    seed_pins(store)
    admin: dict[str, Any] = {"enabled": True, "port": port}
    if token:
        admin["token_sha256"] = hash_key(ADMIN_TOKEN)
    return default_settings(
        {"alpha": fixture_server("alpha")},
        policies=POLICIES,
        admin=admin,
        guardrails={"store": str(store)},
        telemetry={"audit": {"include_allowed": True}},
    )


def mcp_call(gateway: RunningGateway, tool: str, key: str = ALICE_KEY) -> tuple[int, str]:
    """A tools/call in a fresh session: (the HTTP status of initialize or the call, the answer)."""
    headers = {**gateway.headers(key), "content-type": "application/json"}
    opened = httpx2.post(gateway.url, json=INITIALIZE, headers=headers, timeout=30)
    if opened.status_code != 200:
        return opened.status_code, opened.text
    headers |= {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    httpx2.post(gateway.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    answer = httpx2.post(gateway.url, json=call, headers=headers, timeout=30)
    return answer.status_code, answer.text


def list_tools(gateway: RunningGateway) -> None:
    headers = {**gateway.headers(), "content-type": "application/json"}
    opened = httpx2.post(gateway.url, json=INITIALIZE, headers=headers, timeout=30)
    headers |= {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert httpx2.post(gateway.url, json=listing, headers=headers, timeout=30).status_code == 200


class Browserless:
    """The console as a client without a browser sees it (cookies kept by httpx2)."""

    def __init__(self, gateway: RunningGateway, port: int) -> None:
        self.gateway, self.port, self.origin = gateway, port, f"http://127.0.0.1:{port}"
        self.http = httpx2.Client(base_url=self.origin + "/console", timeout=30)

    def form_token(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None, page.text
        return found.group(1)

    def log_in(self, token: str = ADMIN_TOKEN) -> httpx2.Response:
        return self.http.post("/login", data={"csrf": self.form_token("/login"), "token": token})

    def post(self, path: str, fields: dict[str, str], **options: Any) -> httpx2.Response:
        return self.http.post(path, data={"csrf": self.form_token("/keys"), **fields}, **options)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browserless]:
    port = free_port()
    tmp = Path(tmp_path_factory.mktemp("console"))
    with running_gateway(tmp, console_settings(tmp, port)) as gateway:
        yield Browserless(gateway, port)
        assert "Traceback" not in gateway.log()


@pytest.fixture
def logged_in(console: Browserless) -> Browserless:
    if console.http.get("/keys").status_code != 200:  # not logged in yet, or logged out
        assert console.log_in().status_code == 303
    return console


def test_every_answer_carries_the_security_headers(console: Browserless) -> None:
    for answer in (console.http.get("/login"), console.http.get("/nothing"), console.http.post("/logout")):
        headers = answer.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in console.http.get("/login").text.replace('<script src="/console/static', "")


def test_nothing_without_a_session(console: Browserless) -> None:
    anonymous = httpx2.Client(base_url=console.origin + "/console", timeout=30)
    for path in ("/", "/servers", "/tools", "/decisions", "/sessions", "/keys"):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    assert anonymous.get("/metrics.json").status_code == 401
    assert anonymous.post("/keys/revoke", data={"id": "x", "csrf": "x"}).status_code == 403
    bearer = {"authorization": f"Bearer {ADMIN_TOKEN}"}  # the console takes its own login only
    assert anonymous.get("/keys", headers=bearer).status_code == 303


def test_login_refuses_a_wrong_token_and_a_stale_form(console: Browserless) -> None:
    other = Browserless(console.gateway, console.port)
    token = console.form_token("/login")  # the form given to another client: not this one's
    assert other.http.post("/login", data={"csrf": token, "token": ADMIN_TOKEN}).status_code == 403
    for wrong in ("pca_wrong", ALICE_KEY, ""):
        refused = other.log_in(wrong)
        assert refused.status_code == 401 and "not the admin token" in refused.text
        assert "portcullis_console=" not in refused.headers.get("set-cookie", "")
    assert "a login with a wrong admin token" in console.gateway.log()
    assert "pca_wrong" not in console.gateway.log()


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(console: Browserless) -> None:
    answer = console.log_in()
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("portcullis_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie  # plain http here
    value = cookie.split(";")[0].split("=", 1)[1]
    assert console.http.get("/keys").status_code == 200
    console.http.post("/logout", data={"csrf": console.form_token("/keys")})
    replayed = httpx2.get(console.origin + "/console/keys", cookies={"portcullis_console": value})
    assert replayed.status_code == 303  # ended here, not only forgotten by the browser
    forged = httpx2.get(console.origin + "/console/keys", cookies={"portcullis_console": value[:-1] + "0"})
    assert forged.status_code == 303


def test_the_console_session_does_not_open_the_api(logged_in: Browserless) -> None:
    assert logged_in.http.get(logged_in.origin + "/api/v1/servers").status_code == 401


def make_key(console: Browserless, user: str = "alice") -> tuple[str, str]:
    made = console.post("/keys", {"user": user, "name": "console-test"})
    assert made.status_code == 200, made.text
    key = re.search(r'<code id="new-key">([^<]+)</code>', made.text)
    ident = re.search(r"New key <strong>([^<]+)</strong>", made.text)
    assert key is not None and ident is not None, made.text
    return key.group(1), ident.group(1)


def test_keys_are_shown_once_and_csrf_guards_every_button(logged_in: Browserless) -> None:
    key, ident = make_key(logged_in)
    assert key.startswith("pcs_") and key not in logged_in.http.get("/keys").text
    assert mcp_call(logged_in.gateway, "alpha__echo", key)[0] == 200
    for csrf in ("", "forged", "ü"):
        refused = logged_in.http.post("/keys/revoke", data={"id": ident, "csrf": csrf})
        assert refused.status_code == 403
    assert mcp_call(logged_in.gateway, "alpha__echo", key)[0] == 200  # nothing was revoked
    done = logged_in.post("/keys/revoke", {"id": ident})
    assert done.status_code == 303 and done.headers["location"] == "/console/keys"
    assert f"Key {ident} is revoked" in logged_in.http.get("/keys").text
    assert mcp_call(logged_in.gateway, "alpha__echo", key)[0] == 401
    refused = logged_in.post("/keys", {"user": "nobody-here"})
    assert refused.status_code == 200 and 'class="note error"' in refused.text


def test_a_rotated_key_is_shown_once_and_the_old_one_lasts_its_grace(logged_in: Browserless) -> None:
    old, ident = make_key(logged_in)
    rotated = logged_in.post("/keys/rotate", {"id": ident, "grace": "3600"})
    new = re.search(r'<code id="new-key">([^<]+)</code>', rotated.text)
    assert rotated.status_code == 200 and new is not None and new.group(1) != old
    assert mcp_call(logged_in.gateway, "alpha__echo", new.group(1))[0] == 200
    assert mcp_call(logged_in.gateway, "alpha__echo", old)[0] == 200  # for an hour more
    assert "not a number" in logged_in.post("/keys/rotate", {"id": ident, "grace": "soon"}).text


def test_only_the_console_s_own_origin_may_post(logged_in: Browserless) -> None:
    for headers in (
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:1"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ):
        refused = logged_in.post("/sessions/end", {"prefix": "abcdefgh"}, headers=headers)
        assert refused.status_code == 403, headers
    same = {"origin": logged_in.origin, "sec-fetch-site": "same-origin"}
    assert logged_in.post("/sessions/end", {"prefix": "abcdefgh"}, headers=same).status_code == 303
    assert "no session" in logged_in.http.get("/sessions").text
    # The API's own Origin rule is unchanged by the console (other origins refused).
    api = httpx2.get(
        logged_in.origin + "/api/v1/servers",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}", "origin": "http://evil.example"},
    )
    assert api.status_code == 403
    assert logged_in.http.get("/", headers={"host": "evil.example"}).status_code == 421


def test_untrusted_text_is_escaped_on_every_page(logged_in: Browserless) -> None:
    list_tools(logged_in.gateway)
    assert mcp_call(logged_in.gateway, MARKUP_TOOL)[0] == 200
    for path in ("/tools", "/decisions"):
        page = logged_in.http.get(path).text
        assert "<script>document" not in page and "<img" not in page, path
    assert "&lt;script&gt;document.title=&quot;pwned&quot;" in logged_in.http.get("/tools").text
    assert "&lt;img src=x onerror=" in logged_in.http.get("/decisions").text


def test_recent_decisions_reach_the_page_and_the_api(logged_in: Browserless) -> None:
    assert mcp_call(logged_in.gateway, "alpha__crash")[0] == 200
    page = logged_in.http.get("/decisions").text
    assert "<td>no-crash</td>" in page and "<td>crash</td>" in page
    api = logged_in.origin + "/api/v1/audit/recent"
    bearer = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    refusals = httpx2.get(api, params={"verdict": "refusals", "limit": "5"}, headers=bearer).json()
    assert refusals and refusals[0]["by"] == "no-crash" and refusals[0]["verdict"] == "deny"
    assert len(refusals) <= 5 and all(r["verdict"] != "allow" for r in refusals)
    assert httpx2.get(api, params={"limit": "x"}, headers=bearer).status_code == 400
    assert ALICE_KEY not in httpx2.get(api, headers=bearer).text


def test_pins_are_approved_from_the_tools_page(logged_in: Browserless) -> None:
    list_tools(logged_in.gateway)
    assert "changed" in logged_in.http.get("/tools").text
    approved = logged_in.post("/pins/approve", {"server": "alpha", "name": "echo", "kind": "tool"})
    assert approved.status_code == 303
    assert "Approved tool echo of alpha" in logged_in.http.get("/tools").text
    quarantined = logged_in.post("/pins/revoke", {"server": "alpha", "name": "echo", "kind": "tool"})
    assert quarantined.status_code == 303 and "revoked" in logged_in.http.get("/tools").text
    logged_in.post("/pins/approve", {"server": "alpha", "name": "echo", "kind": "tool"})


def test_the_tools_page_shows_what_each_server_serves_now_with_its_pin(logged_in: Browserless) -> None:
    list_tools(logged_in.gateway)
    bearer = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    served = httpx2.get(logged_in.origin + "/api/v1/tools", headers=bearer).json()
    pins = httpx2.get(logged_in.origin + "/api/v1/pins", headers=bearer).json()
    (alpha,) = served
    assert alpha["server"] == "alpha" and alpha["listed"]
    echo = next(t for t in alpha["tools"] if t["name"] == "echo")
    assert echo["exposed"] == "alpha__echo" and echo["refused"] is None
    assert echo["pin"] == next(p["state"] for p in pins if p["name"] == "echo" and p["kind"] == "tool")
    assert {t["exposed"] for t in alpha["tools"]} >= {"alpha__echo", "alpha__crash"}
    page = logged_in.http.get("/tools").text
    assert (
        "<h3>Served now</h3>" in page and "<td>alpha__echo</td>" in page and "<td>alpha__crash</td>" in page
    )


def test_servers_and_numbers(logged_in: Browserless) -> None:
    assert "alpha" in logged_in.http.get("/servers").text
    assert logged_in.post("/servers/restart", {"name": "alpha"}).status_code == 303
    assert "Server alpha is restarting" in logged_in.http.get("/servers").text
    logged_in.post("/servers/restart", {"name": "nope"})
    assert "no server &#x27;nope&#x27;" in logged_in.http.get("/servers").text
    numbers = logged_in.http.get("/metrics.json").json()
    assert numbers["enabled"] and numbers["requests"] >= 1 and numbers["refused"] >= 0
    assert logged_in.http.get("/static/console.js").headers["content-type"].startswith("text/javascript")
    assert logged_in.http.get("/static/nope.js").status_code == 404


def test_without_an_admin_token_the_console_opens_on_loopback_with_a_button(tmp_path: Path) -> None:
    port = free_port()
    with running_gateway(tmp_path, console_settings(tmp_path, port, token=False)) as gateway:
        console = Browserless(gateway, port)
        login = console.http.get("/login").text
        assert "No admin token is configured" in login and 'name="token"' not in login
        assert console.http.post("/login", data={"csrf": "forged"}).status_code == 403
        assert console.http.post("/login", data={"csrf": console.form_token("/login")}).status_code == 303
        assert console.http.get("/keys").status_code == 200


# --- in process ----------------------------------------------------------------------------


def test_sessions_expire_when_idle_or_old() -> None:
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0])
    _, cookie = sessions.open()
    now[0] += IDLE - 1
    assert sessions.find(cookie) is not None
    now[0] += IDLE + 1
    assert sessions.find(cookie) is None
    _, cookie = sessions.open()
    for _ in range(int(LIFETIME // IDLE) + 1):
        now[0] += IDLE - 1
    assert sessions.find(cookie) is None
    assert Sessions().find(sessions.open()[1]) is None  # another key: another console's cookie
    login, token = sessions.login_form()
    assert sessions.login_form_ok(login, token) and not sessions.login_form_ok(login, token + "x")
    now[0] += 601
    assert not sessions.login_form_ok(login, token)


def test_the_ring_keeps_the_last_records_masked() -> None:
    ring = RecentAudit(size=3)
    logger = logging.getLogger(AUDIT_LOGGER + ".ring-test")
    logger.addHandler(ring)
    try:
        for n in range(5):
            reason = f"call {n} token=s3cr3t-value-{n}"
            logger.warning(
                AUDIT_TEMPLATE, http_audit_record("deny", by="t", reason=reason, method="-", target="/")
            )
        logger.warning("not an audit record %s", "x")
    finally:
        logger.removeHandler(ring)
    kept = ring.recent()
    assert [r["reason"].split(" token")[0] for r in kept] == ["call 4", "call 3", "call 2"]
    assert not any("s3cr3t" in orjson.dumps(r).decode() for r in kept)
    assert len(ring.recent(1)) == 1


def test_an_audit_reason_with_markup_is_shown_as_text() -> None:
    record = {"ts": 0, "verdict": "<b>deny</b>", "by": XSS, "reason": XSS, "target": XSS, "principal": "a"}
    page = views.decisions([record], everything=True, kept=500)
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert page.count("&lt;script&gt;") == 3
