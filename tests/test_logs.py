"""What the logs say: a line for every refused request (never the credential), the target a
call named even when it failed before routing, every field its own key in the JSON format,
and secrets masked in both formats."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from gateway.logs import JsonFormatter, MaskSecrets
from tests.support import (
    ACCEPT_BOTH,
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
)

WRONG_KEY = "pcs_wrong_key_that_must_never_be_logged_42"
MAX_BODY = 4000
ACCESS_FIELDS = {"principal", "session", "method", "server", "name", "outcome", "code", "fault", "ms"}


def settings(fmt: str) -> dict[str, Any]:
    return default_settings(
        {"alpha": fixture_server("alpha")},
        logging={"level": "info", "format": fmt},
        http={"max_body_bytes": MAX_BODY},
        middleware=[
            {"use": "middleware.telemetry.access_log:AccessLog"},
            {"use": "acme_guard:DenyTools", "options": {"patterns": ["*__pid"]}},
        ],
    )


@pytest.fixture(scope="module")
def text_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(Path(tmp_path_factory.mktemp("text-logs")), settings("text")) as running:
        yield running


@pytest.fixture(scope="module")
def json_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(Path(tmp_path_factory.mktemp("json-logs")), settings("json")) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as client:
        yield client


def wait_for_line(gateway: RunningGateway, matches: Callable[[str], bool], timeout: float = 10) -> str:
    """The first log line ``matches`` accepts, once the gateway has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in gateway.log().splitlines():
            if matches(line):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no such line in the log:\n{gateway.log()}")


async def refuse_four_ways(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    """401 with a wrong key, 403 for a foreign origin, 421 for a foreign host, 413 too big."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    wrong = {"authorization": f"Bearer {WRONG_KEY}", "accept": ACCEPT_BOTH}
    assert (await http.post(gateway.url + "/?token=hunter2", headers=wrong, content=body)).status_code == 401
    origin = gateway.headers(origin="https://evil.example")
    assert (await http.post(gateway.url, headers=origin, content=body)).status_code == 403
    host = gateway.headers(host="evil.example")
    assert (await http.post(gateway.url, headers=host, content=body)).status_code == 421
    big = gateway.headers(**{"content-type": "application/json"})
    assert (await http.post(gateway.url, headers=big, content=b" " * (MAX_BODY + 1))).status_code == 413


async def call(
    http: httpx2.AsyncClient,
    gateway: RunningGateway,
    headers: dict[str, str],
    name: str,
    url: str | None = None,
) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name, "arguments": {}}}
    response = await http.post(url or gateway.url, headers=headers, content=orjson.dumps(message))
    answer: dict[str, Any] = response.json()
    return answer


async def session_headers(
    http: httpx2.AsyncClient, gateway: RunningGateway, url: str | None = None
) -> dict[str, str]:
    session = await initialize_raw(http, url or gateway.url, gateway.headers())
    return gateway.headers(
        **{
            "content-type": "application/json",
            "mcp-session-id": session,
            "mcp-protocol-version": "2025-11-25",
        }
    )


# --- text format ------------------------------------------------------------------------------------


async def test_every_refused_request_leaves_one_line_without_the_credential(
    http: httpx2.AsyncClient, text_gateway: RunningGateway
) -> None:
    await refuse_four_ways(http, text_gateway)
    for status, reason in [
        (401, "the API key is not valid"),
        (403, "Origin 'https://evil.example' is not allowed"),
        (421, "Host 'evil.example' is not allowed"),
        (413, f"over http.max_body_bytes ({MAX_BODY})"),
    ]:
        line = wait_for_line(
            text_gateway, lambda line, s=status: f"status={s} " in line and "refused" in line
        )
        assert "refused POST /mcp" in line and reason in line and "client=127.0.0.1:" in line, line
    log = text_gateway.log()
    assert WRONG_KEY not in log and WRONG_KEY[4:] not in log
    assert "hunter2" not in log


async def test_a_call_that_fails_before_routing_names_its_target(
    http: httpx2.AsyncClient, text_gateway: RunningGateway
) -> None:
    headers = await session_headers(http, text_gateway)
    await call(http, text_gateway, headers, "alpha__pid")  # refused by a policy before routing
    await call(http, text_gateway, headers, "no_such_tool")  # routing finds no owner
    blocked = wait_for_line(text_gateway, lambda line: "method=tools/call" in line and "alpha__pid" in line)
    assert "name=alpha__pid" in blocked and "outcome=tool_error" in blocked, blocked
    unknown = wait_for_line(text_gateway, lambda line: "method=tools/call" in line and "no_such_tool" in line)
    assert "name=no_such_tool" in unknown and "outcome=error code=-32602 fault=client" in unknown, unknown


async def test_the_pinned_server_is_logged_even_when_routing_fails(
    http: httpx2.AsyncClient, text_gateway: RunningGateway
) -> None:
    url = text_gateway.server_url("alpha")
    headers = await session_headers(http, text_gateway, url)
    await call(http, text_gateway, headers, "nothing_here", url)
    line = wait_for_line(text_gateway, lambda line: "name=nothing_here" in line)
    assert "server=alpha" in line, line


async def test_a_secret_in_a_named_target_is_masked(
    http: httpx2.AsyncClient, text_gateway: RunningGateway
) -> None:
    headers = await session_headers(http, text_gateway)
    await call(http, text_gateway, headers, "x token=sesame-text-77")
    wait_for_line(text_gateway, lambda line: "token=****" in line)
    assert "sesame-text-77" not in text_gateway.log()


# --- JSON format --------------------------------------------------------------------------------------


def json_lines(gateway: RunningGateway) -> list[dict[str, Any]]:
    entries = []
    for line in gateway.log().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def wait_for_entry(gateway: RunningGateway, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for entry in json_lines(gateway):
            if matches(entry):
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no such entry in the log:\n{gateway.log()}")


async def test_json_access_lines_have_every_field_as_its_own_key(
    http: httpx2.AsyncClient, json_gateway: RunningGateway
) -> None:
    headers = await session_headers(http, json_gateway)
    message = {"jsonrpc": "2.0", "id": 4, "method": "tools/call"}
    message["params"] = {"name": "alpha__echo", "arguments": {"text": "hi"}}
    assert (
        await http.post(json_gateway.url, headers=headers, content=orjson.dumps(message))
    ).status_code == 200
    await call(http, json_gateway, headers, "no_such_tool")
    ok = wait_for_entry(json_gateway, lambda e: e.get("method") == "tools/call" and e.get("name") == "echo")
    assert {"ts", "level", "logger", "msg"} | ACCESS_FIELDS <= ok.keys(), ok
    assert ok["logger"] == "portcullis.access" and ok["level"] == "info"
    assert ok["server"] == "alpha" and ok["principal"] == "alice" and ok["outcome"] == "ok"
    assert ok["session"] == headers["mcp-session-id"][:8]
    assert ok["code"] is None and ok["fault"] is None and isinstance(ok["ms"], float)
    failed = wait_for_entry(json_gateway, lambda e: e.get("name") == "no_such_tool")
    assert failed["outcome"] == "error" and failed["code"] == -32602 and failed["fault"] == "client"
    assert failed["server"] is None


async def test_json_refusals_have_their_fields_and_no_credential(
    http: httpx2.AsyncClient, json_gateway: RunningGateway
) -> None:
    await refuse_four_ways(http, json_gateway)
    refused = wait_for_entry(json_gateway, lambda e: e.get("status") == 401)
    assert refused["logger"] == "portcullis.http"
    assert refused["method"] == "POST" and refused["path"] == "/mcp/"
    assert refused["reason"] == "the API key is not valid" and refused["client"].startswith("127.0.0.1:")
    for status in (403, 421, 413):
        wait_for_entry(json_gateway, lambda e, s=status: e.get("status") == s)
    assert WRONG_KEY not in json_gateway.log()


async def test_json_fields_are_masked_too(http: httpx2.AsyncClient, json_gateway: RunningGateway) -> None:
    headers = await session_headers(http, json_gateway)
    await call(http, json_gateway, headers, "password=sesame-json-88")
    entry = wait_for_entry(json_gateway, lambda e: str(e.get("name", "")).startswith("password="))
    assert entry["name"] == "password=****", entry
    assert "sesame-json-88" not in json_gateway.log()


# --- the formatter in process -----------------------------------------------------------------------


def formatted(fmt: str, *args: Any) -> dict[str, Any]:
    """One record through the filter and JSON formatter the gateway installs."""
    record = logging.LogRecord("portcullis.test", logging.INFO, __file__, 1, fmt, args, None)
    assert MaskSecrets().filter(record)
    entry: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return entry


def test_json_fields_come_only_from_a_mapping_template() -> None:
    entry = formatted("a=%(a)s b=%(b)s", {"a": 1, "b": "-"})
    assert entry["msg"] == "a=1 b=-" and entry["a"] == 1 and entry["b"] is None
    plain = formatted("got %s", {"a": 1})  # a dict as a value is not fields
    assert plain["msg"] == "got {'a': 1}" and "a" not in plain


def test_json_fields_cannot_overwrite_the_envelope_and_are_masked() -> None:
    entry = formatted("level=%(level)s who=%(who)s", {"level": "fake", "who": "Bearer abcdef123456"})
    assert entry["level"] == "info"
    assert entry["who"] == "Bearer ****" and "abcdef123456" not in entry["msg"]
