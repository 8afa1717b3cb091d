"""Policies through the real gateway, for clients of both protocol eras: what alice may use and
bob may not (listed or guessed), prompts and resources, an argument condition, pinned endpoints,
private cache hints, and the audit line (without argument values)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from middleware.auth.api_key import hash_key
from tests.support import (
    ALICE_KEY,
    BOB_KEY,
    INITIALIZE,
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
)
from tests.test_modern_front import post, request

pytestmark = pytest.mark.timeout(60)

SECRET = "classified-s3cr3t-value"
CAROL_KEY = "pcs_test_carol_key_5555555555"
POLICIES = [
    {"name": "bob-no-add", "effect": "deny", "principals": ["bob"], "servers": ["one"], "tools": ["add"]},
    {
        "name": "no-classified-echo",
        "effect": "deny",
        "tools": ["echo"],
        "when": 'startswith(args.text, "classified")',
        "description": "classified text stays in",
    },
    {
        "name": "bob-no-greet-two",
        "effect": "deny",
        "principals": ["bob"],
        "servers": ["two"],
        "prompts": ["greet"],
    },
    {
        "name": "bob-no-two-resources",
        "effect": "deny",
        "principals": ["bob"],
        "resources": ["fixture://two/**"],
    },
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings(
        {"one": fixture_server("one"), "two": fixture_server("two")},
        policies=POLICIES,
        middleware=[{"use": "middleware.telemetry.access_log:AccessLog"}],
        projects={"acme": {"servers": ["one"]}},
        users={"carol": {"project": "acme", "keys": [{"name": "k1", "sha256": hash_key(CAROL_KEY)}]}},
    )
    with running_gateway(Path(tmp_path_factory.mktemp("policies")), settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as client:
        yield client


class Legacy:
    """A 2025-11-25 session opened by hand, as ``key``, on ``url``."""

    def __init__(self, http: httpx2.AsyncClient, gateway: RunningGateway, key: str, url: str) -> None:
        self.http, self.gateway, self.key, self.url = http, gateway, key, url
        self.session = ""
        self.ids = iter(range(2, 1 << 30))

    async def open(self) -> Legacy:
        self.session = await initialize_raw(self.http, self.url, self.gateway.headers(self.key))
        return self

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {
            **self.gateway.headers(self.key),
            "content-type": "application/json",
            "mcp-session-id": self.session,
            "mcp-protocol-version": "2025-11-25",
        }
        message = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params or {}}
        response = await self.http.post(self.url, headers=headers, content=orjson.dumps(message))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


async def legacy(
    http: httpx2.AsyncClient, gateway: RunningGateway, key: str, url: str | None = None
) -> Legacy:
    return await Legacy(http, gateway, key, url or gateway.url).open()


async def modern(
    http: httpx2.AsyncClient,
    gateway: RunningGateway,
    key: str,
    method: str,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status, answer = await post(http, gateway, request(method, params), key=key)
    assert status == 200, answer
    return answer


def names(answer: dict[str, Any], key: str, field: str = "name") -> set[str]:
    return {item[field] for item in answer["result"][key]}


def refused_by(answer: dict[str, Any], rule: str) -> bool:
    error = answer.get("error") or {}
    data = error.get("data") or {}
    message = error.get("message", "")
    return data.get("fault") == "policy" and data.get("rule") == rule and f"rule {rule!r}" in message


async def test_alice_sees_and_calls_a_tool_that_bob_may_not_even_by_guessing_legacy(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    alice, bob = await legacy(http, gateway, ALICE_KEY), await legacy(http, gateway, BOB_KEY)
    assert "one__add" in names(await alice.call("tools/list"), "tools")
    bobs = names(await bob.call("tools/list"), "tools")
    assert "one__add" not in bobs and {"one__echo", "two__add"} <= bobs
    added = await alice.call("tools/call", {"name": "one__add", "arguments": {"a": 2, "b": 3}})
    assert added["result"]["content"][0]["text"] == "5"
    guessed = await bob.call("tools/call", {"name": "one__add", "arguments": {"a": 2, "b": 3}})
    assert refused_by(guessed, "bob-no-add"), guessed
    assert "two__add" in bobs and "result" in await bob.call(
        "tools/call", {"name": "two__add", "arguments": {"a": 1, "b": 1}}
    )


async def test_alice_sees_and_calls_a_tool_that_bob_may_not_even_by_guessing_modern(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    listed = await modern(http, gateway, BOB_KEY, "tools/list")
    assert "one__add" not in names(listed, "tools")
    assert listed["result"]["cacheScope"] == "private"
    assert "one__add" in names(await modern(http, gateway, ALICE_KEY, "tools/list"), "tools")
    arguments = {"name": "one__add", "arguments": {"a": 2, "b": 3}}
    assert (await modern(http, gateway, ALICE_KEY, "tools/call", arguments))["result"]["content"][0][
        "text"
    ] == "5"
    assert refused_by(await modern(http, gateway, BOB_KEY, "tools/call", arguments), "bob-no-add")


async def test_a_pinned_endpoint_applies_the_same_rules_to_unprefixed_names(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    bob = await legacy(http, gateway, BOB_KEY, gateway.server_url("one"))
    assert "add" not in names(await bob.call("tools/list"), "tools")
    assert refused_by(
        await bob.call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}), "bob-no-add"
    )
    alice = await legacy(http, gateway, ALICE_KEY, gateway.server_url("one"))
    assert "add" in names(await alice.call("tools/list"), "tools")


async def test_prompts_and_resources_are_filtered_and_refused(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    bob = await legacy(http, gateway, BOB_KEY)
    prompts = names(await bob.call("prompts/list"), "prompts")
    assert "one__greet" in prompts and "two__greet" not in prompts
    assert refused_by(
        await bob.call("prompts/get", {"name": "two__greet", "arguments": {"name": "x"}}), "bob-no-greet-two"
    )
    resources = names(await bob.call("resources/list"), "resources", "uri")
    assert "fixture://one/info" in resources and "fixture://two/info" not in resources
    templates = names(await bob.call("resources/templates/list"), "resourceTemplates", "uriTemplate")
    assert templates == {"fixture://one/items/{item}"}
    assert refused_by(
        await bob.call("resources/read", {"uri": "fixture://two/items/7"}), "bob-no-two-resources"
    )
    read = await modern(http, gateway, BOB_KEY, "resources/read", {"uri": "fixture://two/info"})
    assert refused_by(read, "bob-no-two-resources")
    alice = await legacy(http, gateway, ALICE_KEY)
    assert "result" in await alice.call("resources/read", {"uri": "fixture://two/items/7"})
    assert "two__greet" in names(await alice.call("prompts/list"), "prompts")


async def test_an_argument_condition_allows_one_call_refuses_another_and_audits_without_values(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    alice = await legacy(http, gateway, ALICE_KEY)
    said = await alice.call("tools/call", {"name": "one__echo", "arguments": {"text": "hello"}})
    assert said["result"]["content"][0]["text"] == "one:hello"
    refused = await alice.call("tools/call", {"name": "one__echo", "arguments": {"text": SECRET}})
    assert refused_by(refused, "no-classified-echo")
    assert "classified text stays in" in refused["error"]["message"] and SECRET not in str(refused)
    modern_refused = await modern(
        http, gateway, ALICE_KEY, "tools/call", {"name": "two__echo", "arguments": {"text": SECRET}}
    )
    assert refused_by(modern_refused, "no-classified-echo")
    log = gateway.log()
    audits = [
        line for line in log.splitlines() if "portcullis.audit" in line and "no-classified-echo" in line
    ]
    assert len(audits) >= 2, log[-3000:]
    assert "principal=alice" in audits[0] and "method=tools/call" in audits[0] and "target=echo" in audits[0]
    assert "server=one" in audits[0] and "reason=is denied to this caller with these arguments" in audits[0]
    assert SECRET not in log


async def test_a_project_member_reaches_only_the_servers_of_its_project(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    carol = await legacy(http, gateway, CAROL_KEY)
    tools = names(await carol.call("tools/list"), "tools")
    assert "one__echo" in tools and not any(name.startswith("two__") for name in tools)
    assert refused_by(
        await carol.call("tools/call", {"name": "two__echo", "arguments": {"text": "x"}}), "project:acme"
    )
    assert "result" in await carol.call("tools/call", {"name": "one__echo", "arguments": {"text": "x"}})
    listed = await modern(http, gateway, CAROL_KEY, "resources/list")
    assert names(listed, "resources", "uri") == {"fixture://one/info"}
    response = await http.post(
        gateway.server_url("two"),
        headers={**gateway.headers(CAROL_KEY), "content-type": "application/json"},
        json=INITIALIZE,
    )
    assert refused_by(response.json(), "project:acme"), response.text


async def test_an_introduction_carries_only_the_instructions_of_servers_the_caller_may_use(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    async def instructions(key: str) -> str:
        response = await http.post(
            gateway.url, headers={**gateway.headers(key), "content-type": "application/json"}, json=INITIALIZE
        )
        assert response.status_code == 200, response.text
        return str(response.json()["result"].get("instructions", ""))

    assert "Fixture server two." in await instructions(ALICE_KEY)  # alice has no project: every server
    carols = await instructions(CAROL_KEY)
    assert "Fixture server one." in carols and "Fixture server two." not in carols
    status, discovered = await post(http, gateway, request("server/discover"), key=CAROL_KEY)
    assert status == 200 and discovered["result"]["cacheScope"] == "private", discovered
    assert "Fixture server two." not in discovered["result"].get("instructions", "")
