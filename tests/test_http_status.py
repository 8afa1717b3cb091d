"""The streamable-HTTP rules and the HTTP tier: status codes, headers and JSON-RPC error bodies.

Every refusal must say what to fix, carry the status the MCP transport spec asks for, and
leave the gateway serving everyone else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import (
    ACCEPT_BOTH,
    ALICE_KEY,
    BOB_KEY,
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
)

VERSION = "2025-11-25"
VISIBLE_ASCII = {chr(c) for c in range(0x21, 0x7F)}

# Gateway error codes (middleware/protocol.py), repeated here on purpose: they are public API.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
UNAUTHORIZED = -32010
FORBIDDEN = -32011
PAYLOAD_TOO_LARGE = -32013

MAX_BODY = 2000


# --- gateways and clients ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """Fast SSE keep-alives, a small body limit and one ingress host name."""
    settings = default_settings(
        {"alpha": fixture_server("alpha")},
        http={"sse_keepalive": 0.2, "max_body_bytes": MAX_BODY, "allowed_hosts": ["mcp.example.com"]},
    )
    with running_gateway(Path(tmp_path_factory.mktemp("tuned")), settings) as running:
        yield running


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """Auth disabled, which is allowed on loopback only."""
    settings = default_settings({"alpha": fixture_server("alpha")}, auth={"enabled": False})
    with running_gateway(Path(tmp_path_factory.mktemp("open")), settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(15.0)) as client:
        yield client


@pytest.fixture
async def session(http: httpx2.AsyncClient, gateway: RunningGateway) -> str:
    """A fresh session of alice on the shared gateway."""
    return await initialize_raw(http, gateway.url, gateway.headers())


def request(method: str, params: dict[str, Any] | None = None, request_id: int | str = 7) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(version: str = VERSION) -> dict[str, Any]:
    return request(
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "status-test", "version": "0"},
        },
        request_id=1,
    )


def session_headers(gateway: RunningGateway, session_id: str, **extra: str) -> dict[str, str]:
    return gateway.headers(
        **{"content-type": "application/json", "mcp-session-id": session_id, "mcp-protocol-version": VERSION}
        | extra
    )


async def post_json(
    http: httpx2.AsyncClient, url: str, headers: dict[str, str], message: Any
) -> httpx2.Response:
    return await http.post(url, headers=headers, content=json.dumps(message).encode())


def assert_error(response: httpx2.Response, status: int, code: int, *hints: str) -> dict[str, Any]:
    """``status`` with a JSON-RPC error body of ``code`` whose message contains every hint."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    for hint in hints:
        assert hint.lower() in message.lower(), f"{hint!r} not in {message!r}"
    return body


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body, in order (comments and keep-alives skipped)."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if any(data):  # an event with empty data primes resumption and carries no message
            messages.append(json.loads("\n".join(data)))
    return messages


# --- POST rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream", "text/html"])
async def test_post_accept_must_list_json_and_event_stream(
    http: httpx2.AsyncClient, gateway: RunningGateway, accept: str
) -> None:
    headers = gateway.headers(accept=accept, **{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, initialize())
    assert_error(response, 406, INVALID_REQUEST, "Accept", "application/json", "text/event-stream")
    assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_post_needs_json_content_type(
    http: httpx2.AsyncClient, gateway: RunningGateway, content_type: str | None
) -> None:
    headers = gateway.headers()
    if content_type is not None:
        headers["content-type"] = content_type
    response = await post_json(http, gateway.url, headers, initialize())
    assert_error(response, 415, INVALID_REQUEST, "Content-Type: application/json")


async def test_content_type_parameters_are_accepted(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    headers = gateway.headers(**{"content-type": "application/json; charset=utf-8"})
    response = await post_json(http, gateway.url, headers, initialize())
    assert response.status_code == 200, response.text
    assert response.json()["result"]["protocolVersion"] == VERSION


async def test_body_that_is_not_json_is_a_parse_error(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    response = await http.post(
        gateway.url, headers=session_headers(gateway, session), content=b'{"jsonrpc": "2.0", "id": 1,'
    )
    assert_error(response, 400, PARSE_ERROR, "not valid JSON")


async def test_batch_is_refused(http: httpx2.AsyncClient, gateway: RunningGateway, session: str) -> None:
    batch = [request("tools/list", request_id=1), request("ping", request_id=2)]
    response = await post_json(http, gateway.url, session_headers(gateway, session), batch)
    assert_error(response, 400, INVALID_REQUEST, "batch", "one message per POST")


async def test_request_without_session_is_400(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = gateway.headers(**{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, request("tools/list", request_id=41))
    body = assert_error(response, 400, INVALID_REQUEST, "Mcp-Session-Id", "initialize")
    assert body["id"] == 41  # the client can match the error to its request


async def test_unknown_session_is_404(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = session_headers(gateway, "no-such-session-" + "x" * 32)
    response = await post_json(http, gateway.url, headers, request("tools/list"))
    assert_error(response, 404, INVALID_REQUEST, "Session not found", "initialize")


async def test_deleted_session_is_404(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    headers = session_headers(gateway, session)
    assert (await post_json(http, gateway.url, headers, request("tools/list"))).status_code == 200
    deleted = await http.delete(gateway.url, headers=headers)
    assert 200 <= deleted.status_code < 300, deleted.text
    response = await post_json(http, gateway.url, headers, request("tools/list"))
    assert_error(response, 404, INVALID_REQUEST, "initialize")
    again = await http.delete(gateway.url, headers=headers)
    assert_error(again, 404, INVALID_REQUEST)


async def test_delete_without_session_is_400(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    response = await http.delete(gateway.url, headers=gateway.headers())
    assert_error(response, 400, INVALID_REQUEST, "Mcp-Session-Id")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_other_methods_are_405_with_allow(
    http: httpx2.AsyncClient, gateway: RunningGateway, method: str
) -> None:
    response = await http.request(
        method, gateway.url, headers=gateway.headers(**{"content-type": "application/json"}), content=b"{}"
    )
    assert_error(response, 405, INVALID_REQUEST, method, "POST")
    allowed = {part.strip() for part in response.headers["allow"].split(",")}
    assert {"GET", "POST", "DELETE"} <= allowed


# --- MCP-Protocol-Version ---------------------------------------------------------------------


async def test_unsupported_protocol_version_header_is_400(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    headers = session_headers(gateway, session, **{"mcp-protocol-version": "1999-01-01"})
    response = await post_json(http, gateway.url, headers, request("tools/list"))
    assert_error(response, 400, INVALID_REQUEST, "1999-01-01", VERSION)


async def test_another_supported_protocol_version_header_is_accepted(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    """Only unsupported versions are refused (as the conformance suite's raw requests expect)."""
    headers = session_headers(gateway, session, **{"mcp-protocol-version": "2025-03-26"})
    response = await post_json(http, gateway.url, headers, request("tools/list"))
    assert response.status_code == 200, response.text
    assert "tools" in response.json()["result"]


async def test_absent_protocol_version_header_is_accepted(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    headers = session_headers(gateway, session)
    del headers["mcp-protocol-version"]
    response = await post_json(http, gateway.url, headers, request("tools/list"))
    assert response.status_code == 200, response.text
    assert any(tool["name"] == "alpha__echo" for tool in response.json()["result"]["tools"])


# --- initialize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "granted"),
    [("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"), ("2099-01-01", VERSION)],
)
async def test_initialize_negotiates_the_version(
    http: httpx2.AsyncClient, gateway: RunningGateway, asked: str, granted: str
) -> None:
    headers = gateway.headers(**{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, initialize(asked))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["result"]["protocolVersion"] == granted
    # The negotiated version is the one later requests must carry.
    session_id = response.headers["mcp-session-id"]
    later = session_headers(gateway, session_id, **{"mcp-protocol-version": granted})
    assert (await post_json(http, gateway.url, later, request("ping"))).status_code == 200


async def test_session_ids_are_visible_ascii_long_and_fresh(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    headers = gateway.headers(**{"content-type": "application/json"})
    ids = [
        (await post_json(http, gateway.url, headers, initialize())).headers["mcp-session-id"]
        for _ in range(3)
    ]
    for session_id in ids:
        assert len(session_id) >= 32, session_id
        assert set(session_id) <= VISIBLE_ASCII, session_id
    assert len(set(ids)) == 3


# --- what the client sends that is not a request ----------------------------------------------


async def test_notification_is_202_with_no_body(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    response = await post_json(http, gateway.url, session_headers(gateway, session), notification)
    assert response.status_code == 202
    assert response.content == b""


async def test_client_response_is_202_with_no_body(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    answer = {"jsonrpc": "2.0", "id": "x", "result": {}}
    response = await post_json(http, gateway.url, session_headers(gateway, session), answer)
    assert response.status_code == 202
    assert response.content == b""  # the spec: "202 Accepted with no body"


async def test_notification_without_session_is_400(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = gateway.headers(**{"content-type": "application/json"})
    response = await post_json(
        http, gateway.url, headers, {"jsonrpc": "2.0", "method": "notifications/initialized"}
    )
    assert_error(response, 400, INVALID_REQUEST, "Mcp-Session-Id")


# --- server/discover (mcp 2.x clients) --------------------------------------------------------


async def test_server_discover_without_its_metadata_is_invalid_params(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    """server/discover is a 2026-07-28 request: it needs no session, but its _meta."""
    headers = gateway.headers(**{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, request("server/discover", {}, request_id=3))
    body = assert_error(response, 400, INVALID_PARAMS, "_meta")
    assert body["id"] == 3


async def test_mcp_client_in_auto_mode_speaks_2026_07_28(gateway: RunningGateway) -> None:
    async with gateway.client(mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("alpha__whoami", {})
        assert result.content[0].text == "alpha"  # type: ignore[union-attr]


# --- JSON or SSE answers ----------------------------------------------------------------------


async def test_answer_is_json_when_nothing_streams(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    call = request("tools/call", {"name": "alpha__echo", "arguments": {"text": "plain"}})
    response = await post_json(http, gateway.url, session_headers(gateway, session), call)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["id"] == 7
    assert body["result"]["content"][0]["text"] == "alpha:plain"


async def test_progress_turns_the_answer_into_sse(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    call = request(
        "tools/call",
        {
            "name": "alpha__progress",
            "arguments": {"steps": 2, "delay": 0.05},
            "_meta": {"progressToken": "tok"},
        },
        request_id="call-1",
    )
    response = await post_json(http, gateway.url, session_headers(gateway, session), call)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    messages = sse_messages(response.text)
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [p["params"]["progress"] for p in progress] == [1, 2]
    assert {p["params"]["progressToken"] for p in progress} == {"tok"}
    last = messages[-1]
    assert last["id"] == "call-1"
    assert last["result"]["content"][0]["text"] == "2 steps"
    assert sum(1 for m in messages if "id" in m and "method" not in m) == 1  # exactly one response


# --- GET: the standalone SSE stream -----------------------------------------------------------


async def test_get_stream_sends_keepalives_and_allows_one_per_session(
    http: httpx2.AsyncClient, tuned: RunningGateway
) -> None:
    session_id = await initialize_raw(http, tuned.url, tuned.headers())
    headers = session_headers(tuned, session_id, accept="text/event-stream")
    async with http.stream("GET", tuned.url, headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["x-accel-buffering"] == "no"
        lines = stream.aiter_lines()
        async with asyncio.timeout(5):
            while not (await anext(lines)).startswith(": keep-alive"):
                pass
        second = await http.get(tuned.url, headers=headers)
        assert_error(second, 409, INVALID_REQUEST, "already has an open GET stream")
    # Once the first stream is gone, the client can open a new one.
    async with asyncio.timeout(5):
        while True:
            async with http.stream("GET", tuned.url, headers=headers) as again:
                if again.status_code == 200:
                    break
                assert again.status_code == 409
            await asyncio.sleep(0.05)


async def test_get_without_event_stream_accept_is_406(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    headers = session_headers(gateway, session, accept="application/json")
    response = await http.get(gateway.url, headers=headers)
    assert_error(response, 406, INVALID_REQUEST, "text/event-stream")


async def test_get_without_session_is_400(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    response = await http.get(gateway.url, headers=gateway.headers(accept="text/event-stream"))
    assert_error(response, 400, INVALID_REQUEST, "Mcp-Session-Id")


# --- body limit -------------------------------------------------------------------------------


async def test_body_over_the_limit_is_413_and_the_gateway_keeps_serving(
    http: httpx2.AsyncClient, tuned: RunningGateway
) -> None:
    session_id = await initialize_raw(http, tuned.url, tuned.headers())
    headers = session_headers(tuned, session_id)
    big = request("tools/call", {"name": "alpha__echo", "arguments": {"text": "x" * (MAX_BODY * 2)}})
    response = await post_json(http, tuned.url, headers, big)
    assert_error(response, 413, PAYLOAD_TOO_LARGE, str(MAX_BODY), "http.max_body_bytes")

    # Without Content-Length (chunked), the limit still holds while reading.
    payload = json.dumps(big).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 500):
            yield payload[start : start + 500]

    chunked = await http.post(tuned.url, headers=headers, content=chunks())
    assert_error(chunked, 413, PAYLOAD_TOO_LARGE, "http.max_body_bytes")

    small = request("tools/call", {"name": "alpha__echo", "arguments": {"text": "fits"}})
    response = await post_json(http, tuned.url, headers, small)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "alpha:fits"


# --- authentication ---------------------------------------------------------------------------


async def test_no_key_is_401_with_a_challenge(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = {"accept": ACCEPT_BOTH, "content-type": "application/json"}
    response = await post_json(http, gateway.url, headers, initialize())
    assert_error(response, 401, UNAUTHORIZED, "no API key", "Authorization: Bearer", "X-API-Key")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize(
    "credentials",
    [
        {"authorization": "Bearer pcs_wrong_key_000000000000"},
        {"x-api-key": "pcs_wrong_key_000000000000"},
        {"authorization": f"Basic {ALICE_KEY}"},
    ],
)
async def test_wrong_key_is_401(
    http: httpx2.AsyncClient, gateway: RunningGateway, credentials: dict[str, str]
) -> None:
    headers = {"accept": ACCEPT_BOTH, "content-type": "application/json", **credentials}
    response = await post_json(http, gateway.url, headers, initialize())
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == UNAUTHORIZED
    assert "www-authenticate" in response.headers


async def test_x_api_key_works_like_bearer(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = {"accept": ACCEPT_BOTH, "x-api-key": ALICE_KEY}
    session_id = await initialize_raw(http, gateway.url, headers)
    call = request("tools/call", {"name": "alpha__echo", "arguments": {"text": "key"}})
    response = await post_json(
        http,
        gateway.url,
        {**headers, "content-type": "application/json", "mcp-session-id": session_id},
        call,
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "alpha:key"
    # It is alice's session: alice's Bearer key reaches it too.
    bearer = await post_json(http, gateway.url, session_headers(gateway, session_id), request("ping"))
    assert bearer.status_code == 200, bearer.text


async def test_healthz_needs_no_key(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    response = await http.get(f"{gateway.base}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_a_wrong_method_on_healthz_is_405_in_json(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    response = await http.put(f"{gateway.base}/healthz")
    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}
    assert "GET" in response.headers["allow"]


async def test_session_of_another_principal_looks_unknown(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: str
) -> None:
    as_bob = session_headers(gateway, session, authorization=f"Bearer {BOB_KEY}")
    stolen = await post_json(http, gateway.url, as_bob, request("tools/list"))
    unknown = await post_json(
        http,
        gateway.url,
        session_headers(gateway, "x" * 43, authorization=f"Bearer {BOB_KEY}"),
        request("tools/list"),
    )
    assert_error(stolen, 404, INVALID_REQUEST)
    assert stolen.json() == unknown.json()  # no oracle: bob cannot tell the session exists
    assert (await http.delete(gateway.url, headers=as_bob)).status_code == 404
    get = await http.get(gateway.url, headers={**as_bob, "accept": "text/event-stream"})
    assert get.status_code == 404
    # Bob's attempts did not end or hijack alice's session.
    mine = await post_json(http, gateway.url, session_headers(gateway, session), request("tools/list"))
    assert mine.status_code == 200, mine.text
    assert "result" in mine.json()


# --- Host and Origin (DNS rebinding) ----------------------------------------------------------


async def test_foreign_host_is_421(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = gateway.headers(host="evil.example", **{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, initialize())
    assert_error(response, 421, FORBIDDEN, "evil.example", "http.allowed_hosts")


async def test_foreign_origin_is_403(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    headers = gateway.headers(origin="http://evil.example", **{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, initialize())
    assert_error(response, 403, FORBIDDEN, "http://evil.example", "http.allowed_origins")


@pytest.mark.parametrize("origin", ["http://localhost:1234", "http://127.0.0.1:8080"])
async def test_loopback_origin_is_allowed(
    http: httpx2.AsyncClient, gateway: RunningGateway, origin: str
) -> None:
    headers = gateway.headers(origin=origin, **{"content-type": "application/json"})
    response = await post_json(http, gateway.url, headers, initialize())
    assert response.status_code == 200, response.text
    assert "mcp-session-id" in response.headers


async def test_configured_ingress_host_is_accepted(http: httpx2.AsyncClient, tuned: RunningGateway) -> None:
    headers = tuned.headers(host="mcp.example.com", **{"content-type": "application/json"})
    response = await post_json(http, tuned.url, headers, initialize())
    assert response.status_code == 200, response.text
    assert response.json()["result"]["protocolVersion"] == VERSION
    other = await post_json(http, tuned.url, {**headers, "host": "other.example.com"}, initialize())
    assert_error(other, 421, FORBIDDEN, "other.example.com")


# --- auth disabled on loopback ----------------------------------------------------------------


async def test_auth_disabled_on_loopback_needs_no_key(
    http: httpx2.AsyncClient, open_gateway: RunningGateway
) -> None:
    headers = {"accept": ACCEPT_BOTH}
    session_id = await initialize_raw(http, open_gateway.url, headers)
    call = request("tools/call", {"name": "alpha__echo", "arguments": {"text": "open"}})
    response = await post_json(
        http,
        open_gateway.url,
        {**headers, "content-type": "application/json", "mcp-session-id": session_id},
        call,
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "alpha:open"


# --- after all of the above -------------------------------------------------------------------


async def test_gateway_still_serves_after_every_bad_request(gateway: RunningGateway) -> None:
    assert gateway.process.poll() is None
    async with gateway.client() as client:
        result = await client.call_tool("alpha__echo", {"text": "still here"})
        assert result.content[0].text == "alpha:still here"  # type: ignore[union-attr]
