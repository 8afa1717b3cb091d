"""The 2026-07-28 front, on the wire: header checks, version and method errors, discovery,
multi round-trip requests against a legacy upstream (and the tokens that guard them),
cancellation by closing the stream, subscriptions/listen, and cache hints."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.support import (
    ACCEPT_BOTH,
    BOB_KEY,
    ROOT,
    RunningGateway,
    default_settings,
    fixture_server,
    running_gateway,
)

MODERN = "2026-07-28"
ASKING_SERVER = {
    "command": "python",
    "args": [str(ROOT / "tests" / "fixtures" / "asking_server.py")],
    # It asks the client mid-call, the legacy way (a dual-era SDK server cannot in 2026-07-28).
    "era": "legacy",
}
SAMPLING_ANSWER = {
    "role": "assistant",
    "content": {"type": "text", "text": "echo of hello"},
    "model": "test-model",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = Path(tmp_path_factory.mktemp("modern-front"))
    settings = default_settings(
        {
            "asking": ASKING_SERVER,
            "one": fixture_server("one", env={"FIXTURE_CANCEL_LOG": str(tmp / "cancelled.log")}),
        },
        sessions={"request_state_lifetime": 30},
    )
    with running_gateway(tmp, settings) as running:
        running.extra["cancel_log"] = tmp / "cancelled.log"
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as client:
        yield client


def request(
    method: str,
    params: dict[str, Any] | None = None,
    *,
    id: Any = 1,
    capabilities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities or {},
    }
    body = dict(params or {})
    body["_meta"] = {**meta, **body.get("_meta", {})}
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": body}


def mirrored(message: dict[str, Any]) -> dict[str, str]:
    headers = {"mcp-protocol-version": message["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"]}
    headers["mcp-method"] = message["method"]
    name = message["params"].get("name", message["params"].get("uri"))
    if isinstance(name, str):
        headers["mcp-name"] = name
    return headers


async def post(
    http: httpx2.AsyncClient,
    gateway: RunningGateway,
    message: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST one modern request (headers mirrored unless given); its status and final message."""
    sent = {
        "authorization": f"Bearer {key or gateway.key}",
        "accept": ACCEPT_BOTH,
        "content-type": "application/json",
        **(mirrored(message) if headers is None else headers),
    }
    response = await http.post(gateway.url, headers=sent, content=orjson.dumps(message))
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [orjson.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        return response.status_code, events[-1]
    return response.status_code, response.json()


SAMPLING = {"sampling": {}}


async def ask_sampling(
    http: httpx2.AsyncClient, gateway: RunningGateway, **kw: Any
) -> tuple[str, str, dict[str, Any]]:
    """Start asking__sample; returns (input key, requestState, the first request)."""
    first = request(
        "tools/call", {"name": "asking__sample", "arguments": {"prompt": "hello"}}, capabilities=SAMPLING
    )
    status, answer = await post(http, gateway, first, **kw)
    assert status == 200, answer
    assert "result" in answer, answer
    result = answer["result"]
    assert result["resultType"] == "input_required"
    [(key, question)] = result["inputRequests"].items()
    assert question["method"] == "sampling/createMessage"
    assert question["params"]["messages"][0]["content"]["text"] == "hello"
    return key, result["requestState"], first


def retry(first: dict[str, Any], key: str, state: str, *, id: Any = 2) -> dict[str, Any]:
    params = {**first["params"], "inputResponses": {key: SAMPLING_ANSWER}, "requestState": state}
    return {**first, "id": id, "params": params}


async def raw_post(gateway: RunningGateway, message: dict[str, Any], header_lines: list[str]) -> bytes:
    """POST over a bare socket, for header shapes HTTP clients refuse to send."""
    body = orjson.dumps(message)
    head = [
        "POST /mcp HTTP/1.1",
        f"Host: 127.0.0.1:{gateway.port}",
        f"Authorization: Bearer {gateway.key}",
        f"Accept: {ACCEPT_BOTH}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *header_lines,
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return raw


# --- headers, versions, methods -------------------------------------------------------------


async def test_headers_must_match_the_body(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    call = request("tools/call", {"name": "one__echo", "arguments": {"text": "x"}})
    good = mirrored(call)
    cases = {
        "no version header": {k: v for k, v in good.items() if k != "mcp-protocol-version"},
        "no method header": {k: v for k, v in good.items() if k != "mcp-method"},
        "no name header": {k: v for k, v in good.items() if k != "mcp-name"},
        "method differs": {**good, "mcp-method": "tools/list"},
        "name differs": {**good, "mcp-name": "one__add"},
        "version differs": {**good, "mcp-protocol-version": "2025-11-25"},
        "bad base64": {**good, "mcp-name": "=?base64?!!!?="},
    }
    for case, headers in cases.items():
        status, answer = await post(http, gateway, call, headers=headers)
        assert status == 400, case
        assert answer["error"]["code"] == -32020, case
        assert answer["id"] == 1
    encoded = {**good, "mcp-name": "=?base64?" + base64.b64encode(b"one__echo").decode() + "?="}
    status, answer = await post(http, gateway, call, headers=encoded)
    assert status == 200, answer
    assert answer.get("result", {}).get("content", [{}])[0].get("text") == "one:x", answer


async def test_a_request_without_its_metadata_is_invalid_params(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    call = request("tools/list")
    headers = mirrored(call)
    for meta in ({}, {"io.modelcontextprotocol/protocolVersion": MODERN}):
        bare = {**call, "params": {"_meta": meta}}
        status, answer = await post(http, gateway, bare, headers=headers)
        assert status == 400
        assert answer["error"]["code"] == -32602
        assert "io.modelcontextprotocol/clientCapabilities" in answer["error"]["message"]
    # Optional whitespace around a header value is not part of it (sent raw: httpx refuses it).
    raw = await raw_post(gateway, call, [f"{name}:   {value}  " for name, value in headers.items()])
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    assert b'"tools"' in raw
    # A mirrored header sent twice is refused: an intermediary may have routed on the other.
    twice = [f"{name}: {value}" for name, value in headers.items()] + ["Mcp-Method: tools/call"]
    raw = await raw_post(gateway, call, twice)
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    assert b"-32020" in raw and b"more than once" in raw


async def test_an_unsupported_version_names_the_supported_ones(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    call = request("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}})
    status, answer = await post(http, gateway, call)
    assert status == 400
    assert answer["error"]["code"] == -32022
    assert answer["error"]["data"]["requested"] == "2099-01-01"
    assert answer["error"]["data"]["supported"][:2] == [MODERN, "2025-11-25"]


async def test_methods_the_era_dropped_or_nobody_serves_are_404(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    for method, hint in [
        ("ping", "server/discover"),
        ("logging/setLevel", "io.modelcontextprotocol/logLevel"),
        ("resources/subscribe", "subscriptions/listen"),
        ("no/such/method", "does not serve"),
    ]:
        status, answer = await post(http, gateway, request(method))
        assert status == 404, method
        assert answer["error"]["code"] == -32601
        assert hint in answer["error"]["message"]


async def test_get_and_delete_are_not_allowed_for_modern_clients(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    for verb in ("GET", "DELETE"):
        response = await http.request(
            verb,
            gateway.url,
            headers={**gateway.headers(), "mcp-protocol-version": MODERN, "accept": ACCEPT_BOTH},
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


async def test_discover_gives_versions_capabilities_and_identity(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    status, answer = await post(http, gateway, request("server/discover"))
    assert status == 200
    result = answer["result"]
    assert result["supportedVersions"][0] == MODERN
    assert "2025-11-25" in result["supportedVersions"]
    assert result["capabilities"]["tools"] == {"listChanged": True}
    assert "tasks" not in result["capabilities"]
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "portcullis"
    assert result["resultType"] == "complete"
    assert result["cacheScope"] == "public" and result["ttlMs"] > 0


# --- multi round-trip requests against a legacy upstream ------------------------------------


async def test_a_legacy_upstreams_question_becomes_input_required_and_the_retry_resumes_it(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    key, state, first = await ask_sampling(http, gateway)
    status, answer = await post(http, gateway, retry(first, key, state))
    assert status == 200
    assert answer["id"] == 2
    assert answer["result"]["content"][0]["text"] == "sampled: echo of hello"
    assert answer["result"]["resultType"] == "complete"


async def test_a_parked_call_does_not_confuse_the_next_question_on_a_shared_session(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    """Over stdio the upstream does not say which call asks; a call parked for its client's
    retry is not a candidate, so a second asking call is still told apart."""
    first_key, first_state, first = await ask_sampling(http, gateway)
    second_call = request(
        "tools/call", {"name": "asking__sample", "arguments": {"prompt": "again"}}, capabilities=SAMPLING
    )
    _, second = await post(http, gateway, second_call)
    [(second_key, question)] = second["result"]["inputRequests"].items()
    assert question["params"]["messages"][0]["content"]["text"] == "again"
    answer = {**SAMPLING_ANSWER, "content": {"type": "text", "text": "echo of again"}}
    resumed = {
        **second_call,
        "id": 5,
        "params": {
            **second_call["params"],
            "inputResponses": {second_key: answer},
            "requestState": second["result"]["requestState"],
        },
    }
    _, done = await post(http, gateway, resumed)
    assert done["result"]["content"][0]["text"] == "sampled: echo of again"
    _, done = await post(http, gateway, retry(first, first_key, first_state))
    assert done["result"]["content"][0]["text"] == "sampled: echo of hello"


async def test_a_retry_without_the_answer_is_asked_again(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    key, state, first = await ask_sampling(http, gateway)
    empty = {**first, "id": 2, "params": {**first["params"], "inputResponses": {}, "requestState": state}}
    status, again = await post(http, gateway, empty)
    assert status == 200
    assert list(again["result"]["inputRequests"]) == [key]
    status, answer = await post(http, gateway, retry(first, key, again["result"]["requestState"], id=3))
    assert answer["result"]["content"][0]["text"] == "sampled: echo of hello"


async def test_a_client_without_the_capability_is_told_so_and_the_call_ends(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    call = request("tools/call", {"name": "asking__sample", "arguments": {"prompt": "hello"}})
    status, answer = await post(http, gateway, call)
    assert status == 400
    assert answer["error"]["code"] == -32021
    assert answer["error"]["data"]["requiredCapabilities"] == {"sampling": {}}
    assert answer["error"]["data"]["fault"] == "client"  # what the client declared must change
    assert "did not declare the 'sampling' capability" in answer["error"]["message"]
    # The upstream call was ended, not left waiting: a capable client is asked at once.
    key, state, first = await ask_sampling(http, gateway)
    _, done = await post(http, gateway, retry(first, key, state))
    assert done["result"]["content"][0]["text"] == "sampled: echo of hello"


async def test_forged_replayed_foreign_and_misapplied_request_states_are_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    key, state, first = await ask_sampling(http, gateway)

    def refused(answer: dict[str, Any]) -> bool:
        return answer["error"]["code"] == -32602 and "requestState" in answer["error"]["message"]

    forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    assert refused((await post(http, gateway, retry(first, key, forged)))[1])
    assert refused((await post(http, gateway, retry(first, key, "somebody-elses-state")))[1])
    assert refused((await post(http, gateway, retry(first, key, state), key=BOB_KEY))[1])
    other = {**first, "params": {**first["params"], "arguments": {"prompt": "something else"}}}
    assert refused((await post(http, gateway, retry(other, key, state)))[1])
    # None of those spent it; the rightful retry works once, and a replay is refused.
    _status, answer = await post(http, gateway, retry(first, key, state))
    assert answer["result"]["content"][0]["text"] == "sampled: echo of hello"
    assert refused((await post(http, gateway, retry(first, key, state, id=3)))[1])


async def test_closing_the_stream_cancels_the_upstream_call(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    cancel_log: Path = gateway.extra["cancel_log"]
    before = cancel_log.read_text().count("cancelled") if cancel_log.exists() else 0
    call = request("tools/call", {"name": "one__slow", "arguments": {"seconds": 30}})
    headers = {"authorization": f"Bearer {gateway.key}", "accept": ACCEPT_BOTH, **mirrored(call)}
    with pytest.raises(httpx2.TimeoutException):
        await http.post(gateway.url, headers=headers, json=call, timeout=1.0)
    for _ in range(100):
        if cancel_log.exists() and cancel_log.read_text().count("cancelled") > before:
            break
        await asyncio.sleep(0.1)
    assert cancel_log.read_text().count("cancelled") == before + 1


# --- subscriptions/listen and cache hints ---------------------------------------------------


async def test_listen_acknowledges_then_delivers_tagged_resource_updates(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    listen = request(
        "subscriptions/listen",
        {
            "notifications": {
                "toolsListChanged": True,
                "resourceSubscriptions": ["asking://counter", "nope://x"],
            }
        },
        id="sub-1",
    )
    headers = {"authorization": f"Bearer {gateway.key}", "accept": ACCEPT_BOTH, **mirrored(listen)}
    async with http.stream("POST", gateway.url, headers=headers, json=listen) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()

        async def next_message() -> dict[str, Any]:
            async for line in lines:
                if line.startswith("data:"):
                    message: dict[str, Any] = orjson.loads(line[5:])
                    return message
            raise AssertionError("stream ended")

        async with asyncio.timeout(10):
            ack = await next_message()
            assert ack["method"] == "notifications/subscriptions/acknowledged"
            assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
            assert ack["params"]["notifications"] == {
                "toolsListChanged": True,
                "resourceSubscriptions": ["asking://counter"],
            }
            _status, bumped = await post(
                http, gateway, request("tools/call", {"name": "asking__bump", "arguments": {}})
            )
            assert bumped["result"]["content"][0]["text"] == "notified 1"
            update = await next_message()
            assert update["method"] == "notifications/resources/updated"
            assert update["params"]["uri"] == "asking://counter"
            assert update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    # Closing the stream releases the upstream subscription.
    for _ in range(50):
        _, seen = await post(
            http, gateway, request("tools/call", {"name": "asking__subscribed", "arguments": {}})
        )
        if seen["result"]["content"][0]["text"] == "":
            break
        await asyncio.sleep(0.1)
    assert seen["result"]["content"][0]["text"] == ""


async def test_lists_and_reads_carry_honest_cache_hints(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    pinned_url = f"{gateway.base}/servers/asking/mcp"
    sent = {"authorization": f"Bearer {gateway.key}", "accept": ACCEPT_BOTH}
    listed = request("tools/list")
    response = await http.post(pinned_url, headers={**sent, **mirrored(listed)}, json=listed)
    tools = response.json()["result"]
    # The same for every caller (no policy varies it): public. The legacy server does not
    # announce tool changes (listChanged is false), so nobody can promise freshness: 0.
    assert tools["cacheScope"] == "public"
    assert tools["ttlMs"] == 0
    _, read = await post(http, gateway, request("resources/read", {"uri": "asking://counter"}))
    assert read["result"]["contents"][0]["text"]
    # A legacy server says nothing about freshness or audience: stale, and private.
    assert read["result"]["ttlMs"] == 0
    assert read["result"]["cacheScope"] == "private"


async def test_log_messages_follow_each_requests_log_level(gateway: RunningGateway) -> None:
    """A 2026-07-28 client opts into logs per request (io.modelcontextprotocol/logLevel); the
    legacy upstream's messages of that call reach it on the call's stream, at that level."""
    for level, expected in (
        ("debug", ["debug:a debug line", "warning:a warning line"]),
        ("warning", ["warning:a warning line"]),
        (None, []),
    ):
        seen: list[str] = []

        async def on_log(params: Any, into: list[str] = seen) -> None:
            into.append(f"{params.level}:{params.data}")

        async with gateway.client(mode=MODERN, logging_callback=on_log, log_level=level) as client:
            result = await client.call_tool("asking__chatty", {})
            assert result.content[0].text == "logged"  # type: ignore[union-attr]
        assert seen == expected, level


async def test_one_principal_cannot_keep_unlimited_calls_waiting(tmp_path: Path) -> None:
    settings = default_settings({"asking": ASKING_SERVER}, sessions={"max_waiting_calls": 1})
    with running_gateway(tmp_path, settings) as small:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
            key, state, first = await ask_sampling(http, small)
            call = request(
                "tools/call",
                {"name": "asking__sample", "arguments": {"prompt": "more"}},
                capabilities=SAMPLING,
            )
            _, refused = await post(http, small, call)
            assert refused["error"]["code"] == -32603
            assert "too many of your calls are waiting for input" in refused["error"]["message"]
            # Another principal is not affected, and answering frees the place.
            bob_key, bob_state, bob_first = await ask_sampling(http, small, key=BOB_KEY)
            _, done = await post(http, small, retry(bob_first, bob_key, bob_state), key=BOB_KEY)
            assert done["result"]["content"][0]["text"] == "sampled: echo of hello"
            _, done = await post(http, small, retry(first, key, state))
            assert done["result"]["content"][0]["text"] == "sampled: echo of hello"
            await ask_sampling(http, small)


async def test_a_tool_with_an_invalid_x_mcp_header_is_left_out(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    _, listed = await post(http, gateway, request("tools/list"))
    names = {tool["name"] for tool in listed["result"]["tools"]}
    assert "asking__sample" in names
    assert "asking__bad_header" not in names
    assert "tool 'bad_header' left out: x-mcp-header 'Ratio'" in gateway.log()
