"""Malformed input at the front door, in both eras: every message that is not what MCP allows
gets a well-formed JSON-RPC error naming what to fix (or 202 for a notification the gateway may
ignore), never a 500, and the gateway keeps serving the same session afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from gateway.front.inbound import might_be_deeper, nesting_depth_over
from gateway.settings import SettingsError, load_settings
from tests.support import (
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
)

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
REQUEST_CANCELLED = -32800

BAD_IDS: dict[str, Any] = {
    "array": [1],
    "object": {"a": 1},
    "bool": True,
    "float": 1.5,
    "null": None,
    "past-64-bits": 2**70,
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = Path(tmp_path_factory.mktemp("front-input"))
    settings = default_settings({"alpha": fixture_server("alpha")})
    with running_gateway(tmp, settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as client:
        yield client


@pytest.fixture
async def legacy(http: httpx2.AsyncClient, gateway: RunningGateway) -> dict[str, str]:
    """The headers of a fresh legacy session."""
    session_id = await initialize_raw(http, gateway.url, gateway.headers())
    return gateway.headers(
        **{"content-type": "application/json", "mcp-session-id": session_id, "mcp-protocol-version": LEGACY}
    )


def modern_headers(
    gateway: RunningGateway, method: str = "tools/call", name: str | None = None
) -> dict[str, str]:
    extra = {"content-type": "application/json", "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        extra["mcp-name"] = name
    return gateway.headers(**extra)


def modern_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {**(params or {}), "_meta": meta}


def raw(body: dict[str, Any], **fields: Any) -> bytes:
    """A message with fields that json would refuse to write (ints past 64 bits) spliced in."""
    text = orjson.dumps(body).decode()
    for key, value in fields.items():
        text = text[:-1] + f',"{key}":{value}}}'
    return text.encode()


def encode(message: dict[str, Any], key: str, value: Any) -> bytes:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 2**64:
        return raw(message, **{key: str(value)})
    return orjson.dumps({**message, key: value})


def assert_client_error(response: httpx2.Response, code: int, *hints: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == code, body
    assert body["error"]["data"]["fault"] == "client", body
    for hint in hints:
        assert hint in body["error"]["message"], body
    return body


async def still_serves(http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> None:
    ping = {"jsonrpc": "2.0", "id": "after", "method": "ping"}
    response = await http.post(url, headers=headers, content=orjson.dumps(ping))
    assert response.status_code == 200 and response.json()["result"] == {}, response.text


# --- ids of every type, legacy era --------------------------------------------------------------


@pytest.mark.parametrize(
    "request_id", [[1], {"a": 1}, True, 1.5, None], ids=["array", "object", "bool", "float", "null"]
)
async def test_a_cancellation_naming_a_malformed_request_id_is_refused_not_a_500(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str], request_id: Any
) -> None:
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(cancel))
    assert_client_error(response, INVALID_PARAMS, "requestId", "string or an integer")
    await still_serves(http, gateway.url, legacy)


async def test_a_cancellation_without_a_request_id_is_accepted(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    """2025-11-25 makes requestId optional (it must not be sent to cancel a task)."""
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"reason": "done"}}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(cancel))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("kind", BAD_IDS)
async def test_a_request_with_a_malformed_id_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str], kind: str
) -> None:
    body = encode({"jsonrpc": "2.0", "method": "ping"}, "id", BAD_IDS[kind])
    response = await http.post(gateway.url, headers=legacy, content=body)
    answer = assert_client_error(response, INVALID_REQUEST, "request's id", "string or an integer")
    assert answer["id"] is None  # JSON-RPC: the id could not be read
    await still_serves(http, gateway.url, legacy)


@pytest.mark.parametrize("kind", ["array", "object", "bool", "float", "past-64-bits"])
@pytest.mark.parametrize("outcome", ["result", "error"])
async def test_a_response_with_a_malformed_id_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str], kind: str, outcome: str
) -> None:
    """A response to a server request is matched by id: one that cannot be an id is an error."""
    value: Any = {} if outcome == "result" else {"code": -1, "message": "no"}
    body = encode({"jsonrpc": "2.0", outcome: value}, "id", BAD_IDS[kind])
    response = await http.post(gateway.url, headers=legacy, content=body)
    assert_client_error(response, INVALID_REQUEST, "response's id")
    await still_serves(http, gateway.url, legacy)


async def test_a_result_with_a_null_id_is_refused_but_an_error_with_one_is_accepted(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    """JSON-RPC lets only an error answer null (it could not read the request's id)."""
    result = {"jsonrpc": "2.0", "id": None, "result": {}}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(result))
    assert_client_error(response, INVALID_REQUEST, "response's id")
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(error))
    assert response.status_code == 202, response.text
    both = {"jsonrpc": "2.0", "id": 3, "result": {}, "error": {"code": 1, "message": "x"}}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(both))
    assert_client_error(response, INVALID_REQUEST, "exactly one")


async def test_a_huge_string_id_is_answered_under_that_id(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    request_id = "x" * 100_000
    ping = {"jsonrpc": "2.0", "id": request_id, "method": "ping"}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(ping))
    assert response.status_code == 200 and response.json()["id"] == request_id


@pytest.mark.parametrize(
    "token", [[1], {"a": 1}, True, 1.5, None], ids=["array", "object", "bool", "float", "null"]
)
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_a_request_with_a_malformed_progress_token_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str], token: Any, era: str
) -> None:
    """Progress tokens are remapped and matched like ids: they must be strings or integers."""
    params: dict[str, Any] = {"name": "alpha__echo", "arguments": {"text": "x"}}
    if era == "modern":
        params = modern_params(params)
        headers = modern_headers(gateway, "tools/call", "alpha__echo")
    else:
        params["_meta"], headers = {}, legacy
    params["_meta"]["progressToken"] = token
    message = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": params}
    response = await http.post(gateway.url, headers=headers, content=orjson.dumps(message))
    assert assert_client_error(response, INVALID_PARAMS, "progressToken")["id"] == 8


async def test_a_request_whose_meta_is_not_an_object_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    """It used to fail inside the gateway ("internal gateway error", the gateway's fault)."""
    params = {"name": "alpha__echo", "arguments": {"text": "x"}, "_meta": [1]}
    message = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": params}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(message))
    assert_client_error(response, INVALID_PARAMS, "params._meta must be an object, not an array")


async def test_a_notification_with_an_odd_progress_token_is_accepted_and_ignored(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    progress = {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": [1], "progress": 1},
    }
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(progress))
    assert response.status_code == 202, response.text
    await still_serves(http, gateway.url, legacy)


def progress_call(request_id: Any, delay: float) -> bytes:
    """A call that reports progress at once (so its answer turns into a stream), then waits."""
    params = {
        "name": "alpha__progress",
        "arguments": {"steps": 1, "delay": delay},
        "_meta": {"progressToken": "p"},
    }
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


def last_event(stream_text: str) -> dict[str, Any]:
    events = [
        orjson.loads(line[5:])
        for line in stream_text.splitlines()
        if line.startswith("data:") and line[5:].strip()
    ]
    message: dict[str, Any] = events[-1]
    return message


async def test_an_id_already_in_flight_is_refused_and_a_cancel_still_reaches_the_first_call(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    """Two calls under one id would make a cancellation (or the first to end) hit the other."""
    async with http.stream("POST", gateway.url, headers=legacy, content=progress_call(9, 30)) as first:
        assert first.headers["content-type"].startswith("text/event-stream")  # in flight upstream
        second = await http.post(gateway.url, headers=legacy, content=progress_call(9, 0))
        answer = assert_client_error(second, INVALID_REQUEST, "already used by a request in flight")
        assert answer["id"] == 9
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
        response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(cancel))
        assert response.status_code == 202
        cancelled = last_event((await asyncio.wait_for(first.aread(), 10)).decode())
    assert cancelled["id"] == 9 and cancelled["error"]["code"] == REQUEST_CANCELLED
    assert cancelled["error"]["data"]["fault"] == "client"  # the client asked for it
    # The id is free again once its call ended.
    again = await http.post(gateway.url, headers=legacy, content=progress_call(9, 0))
    assert again.status_code == 200 and "result" in last_event(again.text), again.text


# --- ids of every type, 2026-07-28 ----------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_IDS)
async def test_a_modern_request_with_a_malformed_id_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, kind: str
) -> None:
    message = {"jsonrpc": "2.0", "method": "tools/list", "params": modern_params()}
    response = await http.post(
        gateway.url,
        headers=modern_headers(gateway, "tools/list"),
        content=encode(message, "id", BAD_IDS[kind]),
    )
    assert_client_error(response, INVALID_REQUEST, "request's id")


@pytest.mark.parametrize("kind", ["array", "object", "bool", "float"])
async def test_a_modern_cancellation_or_response_with_a_malformed_id_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, kind: str
) -> None:
    headers = modern_headers(gateway, "notifications/cancelled")
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": modern_params({"requestId": BAD_IDS[kind]}),
    }
    response = await http.post(gateway.url, headers=headers, content=orjson.dumps(cancel))
    assert_client_error(response, INVALID_PARAMS, "requestId")
    answer = encode({"jsonrpc": "2.0", "result": {}}, "id", BAD_IDS[kind])
    response = await http.post(gateway.url, headers=modern_headers(gateway), content=answer)
    assert_client_error(response, INVALID_REQUEST, "response's id")


async def test_a_modern_notification_is_accepted_and_ignored(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": modern_params({"requestId": 4}),
    }
    headers = modern_headers(gateway, "notifications/cancelled")
    response = await http.post(gateway.url, headers=headers, content=orjson.dumps(cancel))
    assert response.status_code == 202, response.text


# --- nesting depth ----------------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A JSON value ``depth`` arrays deep."""
    return "[" * depth + "]" * depth


def deep_call(depth: int, request_id: int = 5, params: dict[str, Any] | None = None) -> bytes:
    """A tools/call whose argument sits ``depth`` levels below the message (which is level 1)."""
    base = {"name": "alpha__echo", "arguments": {"text": "x"}, **(params or {})}
    text = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": base}).decode()
    # message(1) > params(2) > arguments(3) > deep: levels 4 .. depth
    return text.replace('{"text":"x"}', '{"text":"x","deep":' + nested(depth - 3) + "}").encode()


@pytest.mark.parametrize("depth", [65, 200, 600, 1024, 1100])
async def test_a_message_nested_past_the_limit_is_the_clients_error_naming_the_setting(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str], depth: int
) -> None:
    """Deep parameters used to reach the upstream (which never answered) or fail inside the
    gateway; they are refused at parse time, before anything acts on them."""
    response = await http.post(gateway.url, headers=legacy, content=deep_call(depth))
    code = INVALID_PARAMS if depth <= 1024 else INVALID_REQUEST
    answer = assert_client_error(response, code, "more than 64 levels deep", "http.max_json_depth")
    if depth <= 1024:
        assert answer["id"] == 5
    await still_serves(http, gateway.url, legacy)


async def test_a_message_at_the_limit_is_served(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    response = await http.post(gateway.url, headers=legacy, content=deep_call(64))
    assert response.status_code == 200 and "result" in response.json(), response.text


async def test_a_wide_flat_message_is_served(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    """Many brackets side by side are not depth: the walk must count levels, not brackets."""
    wide = {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "alpha__echo"}}
    wide["params"]["arguments"] = {"text": "x", "items": [[{"a": [1]}] for _ in range(500)]}
    response = await http.post(gateway.url, headers=legacy, content=orjson.dumps(wide))
    assert response.status_code == 200 and "result" in response.json(), response.text


async def test_a_deep_modern_request_is_refused_before_its_headers_are_checked(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    body = deep_call(100, params={"_meta": modern_params()["_meta"]})
    response = await http.post(
        gateway.url, headers=modern_headers(gateway, "tools/call", "alpha__echo"), content=body
    )
    assert_client_error(response, INVALID_PARAMS, "more than 64 levels deep", "http.max_json_depth")


async def test_a_deep_response_is_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway, legacy: dict[str, str]
) -> None:
    body = ('{"jsonrpc":"2.0","id":1,"result":{"x":' + nested(100) + "}}").encode()
    response = await http.post(gateway.url, headers=legacy, content=body)
    assert_client_error(response, INVALID_REQUEST, "more than 64 levels deep")


# --- paths that are no route ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/", "/mcpx", "/mcp/extra", "/servers/alpha/other", "/servers/a/b/mcp"]
)
@pytest.mark.parametrize("with_key", [False, True], ids=["anonymous", "authenticated"])
async def test_a_path_outside_every_route_is_404_before_authentication(
    http: httpx2.AsyncClient, gateway: RunningGateway, path: str, with_key: bool
) -> None:
    headers = gateway.headers() if with_key else {"accept": "application/json, text/event-stream"}
    response = await http.post(gateway.base + path, headers=headers, content=b"{}")
    assert response.status_code == 404, response.text
    assert "www-authenticate" not in response.headers
    body = response.json()
    if path.startswith(("/mcp", "/servers/")):
        assert body["jsonrpc"] == "2.0" and body["error"]["data"]["fault"] == "client", body
        assert "/servers/NAME/mcp" in body["error"]["message"]
    else:
        assert "no endpoint at" in body["error"], body


async def test_api_looking_paths_answer_json_and_others_plain_text(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    api = await http.get(gateway.base + "/api/v1/servers")
    assert api.status_code == 404 and "no endpoint at" in api.json()["error"]
    page = await http.get(gateway.base + "/favicon.ico", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/plain")


async def test_an_unknown_server_is_401_without_a_key_exactly_like_a_known_one_and_404_with_one(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    """404 before authentication would tell anyone which server names are configured."""
    anonymous = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    unknown = await http.post(gateway.server_url("ghost"), headers=anonymous, content=b"{}")
    known = await http.post(gateway.server_url("alpha"), headers=anonymous, content=b"{}")
    assert unknown.status_code == known.status_code == 401
    assert unknown.json()["error"] == known.json()["error"]
    answer = await http.post(gateway.server_url("ghost"), headers=gateway.headers(), content=b"{}")
    assert answer.status_code == 404, answer.text
    assert "no server named 'ghost'" in answer.json()["error"]["message"]


async def test_routes_still_answer(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    assert (await http.get(gateway.base + "/healthz")).status_code == 200
    assert (await http.post(gateway.url, content=b"{}")).status_code == 401
    assert (await http.post(gateway.url + "/", content=b"{}")).status_code == 401


@pytest.mark.parametrize("depth", [1, 300])
def test_a_depth_limit_out_of_range_is_refused_naming_the_key(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f"[http]\nmax_json_depth = {depth}\n")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert any(problem.startswith("http.max_json_depth:") for problem in refused.value.problems)


@pytest.mark.parametrize(("depth", "walked"), [(64, False), (65, True)], ids=["at-the-limit", "one-past"])
def test_the_depth_check_walks_only_bodies_with_enough_brackets(depth: int, walked: bool) -> None:
    """The common small message costs two byte counts, never a walk."""
    body = ("[" * depth + "]" * depth).encode()
    assert might_be_deeper(body, 64) is walked
    assert nesting_depth_over(orjson.loads(body), 64) is walked
    small = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1]}}}'
    assert might_be_deeper(small, 64) is False
