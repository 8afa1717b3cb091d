"""The seed's gateway tools on /mcp, through the real gateway and both protocol eras: only the
opted-in project sees them, discovery shows what the policy lets the caller use, a batch runs
each call through the whole stack (the denied one refused by the policy, in its place), and
nothing about how a server is started leaks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from gateway.app import Gateway
from gateway.settings import Settings, SettingsError
from middleware.auth.api_key import hash_key
from tests.support import ALICE_KEY, RunningGateway, default_settings, fixture_server, running_gateway
from tests.test_modern_front import post, request
from tests.test_policy_gateway import legacy, names, refused_by

pytestmark = pytest.mark.timeout(60)

OPS_KEY = "pcs_test_olga_ops_key_1111111111"
DEV_KEY = "pcs_test_dave_dev_key_2222222222"
OSCAR_KEY = "pcs_test_oscar_ops_key_333333333"
TOOLS = {
    "portcullis__list_all_servers",
    "portcullis__get_server_info",
    "portcullis__discover_all_tools",
    "portcullis__secure_call_tools",
}
BATCH = {
    "tool_calls": [
        {"tool": "one__echo", "arguments": {"text": "first"}},
        {"tool": "one__add", "arguments": {"a": 1, "b": 2}},
        {"tool": "two__add", "arguments": {"a": 2, "b": 3}},
    ]
}


def settings(**tools: Any) -> dict[str, Any]:
    return default_settings(
        {"one": fixture_server("one"), "two": fixture_server("two")},
        policies=[
            {"name": "no-add-on-one", "effect": "deny", "servers": ["one"], "tools": ["add"]},
            {
                "name": "oscar-no-batch",
                "effect": "deny",
                "principals": ["oscar"],
                "servers": ["portcullis"],
                "tools": ["secure_call_tools"],
            },
        ],
        projects={"ops": {}, "dev": {}},
        users={
            "olga": {"project": "ops", "keys": [{"name": "k", "sha256": hash_key(OPS_KEY)}]},
            "dave": {"project": "dev", "keys": [{"name": "k", "sha256": hash_key(DEV_KEY)}]},
            "oscar": {"project": "ops", "keys": [{"name": "k", "sha256": hash_key(OSCAR_KEY)}]},
        },
        gateway_tools={"enabled": True, "projects": ["ops"], "max_batch": 3, **tools},
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(Path(tmp_path_factory.mktemp("gateway-tools")), settings()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as client:
        yield client


def data(answer: dict[str, Any]) -> dict[str, Any]:
    """A gateway tool's structured result, checked against its text twin."""
    result = answer["result"]
    assert not result.get("isError"), result
    assert orjson.loads(result["content"][0]["text"]) == result["structuredContent"]
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def check_batch(results: list[dict[str, Any]]) -> None:
    assert [entry["tool"] for entry in results] == ["one__echo", "one__add", "two__add"]
    assert results[0]["result"]["content"][0]["text"] == "one:first"
    assert refused_by({"error": results[1]["error"]}, "no-add-on-one")
    assert results[2]["result"]["content"][0]["text"] == "5"


async def test_only_the_opted_in_project_sees_and_calls_them_legacy(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    olga, dave = await legacy(http, gateway, OPS_KEY), await legacy(http, gateway, DEV_KEY)
    alice = await legacy(http, gateway, ALICE_KEY)  # no project: not without_project
    listed = names(await olga.call("tools/list"), "tools")
    assert listed >= TOOLS and "one__echo" in listed and "one__add" not in listed
    backed = {"portcullis__get_timeout_metrics", "portcullis__get_cache_status", "portcullis__clear_cache"}
    assert listed >= backed  # the timeout middleware and the caches run by default
    for other in (dave, alice):
        assert not {n for n in names(await other.call("tools/list"), "tools") if n.startswith("portcullis")}
        guessed = await other.call("tools/call", {"name": "portcullis__list_all_servers", "arguments": {}})
        assert "structuredContent" not in guessed.get("result", {}), guessed
    servers = await olga.call("tools/call", {"name": "portcullis__list_all_servers", "arguments": {}})
    shown = data(servers)["servers"]
    assert [server["name"] for server in shown] == ["one", "two"]
    assert all(server["state"] == "running" and server["era"] in ("legacy", "modern") for server in shown)
    text = orjson.dumps(servers).decode()
    assert "fixture_server" not in text and "python" not in text and "command" not in text


async def test_batch_runs_each_call_through_the_policy_legacy(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    olga = await legacy(http, gateway, OPS_KEY)
    answer = await olga.call("tools/call", {"name": "portcullis__secure_call_tools", "arguments": BATCH})
    check_batch(data(answer)["results"])
    too_many = {"tool_calls": BATCH["tool_calls"] * 2}
    refused = await olga.call("tools/call", {"name": "portcullis__secure_call_tools", "arguments": too_many})
    assert refused["result"]["isError"] and "at most 3" in refused["result"]["content"][0]["text"]
    nested = {"tool_calls": [{"tool": "portcullis__list_all_servers"}]}
    refused = await olga.call("tools/call", {"name": "portcullis__secure_call_tools", "arguments": nested})
    assert refused["result"]["isError"]
    by_server = {"server_name": "two", "tool_calls": [{"tool": "whoami", "arguments": {}}]}
    answer = await olga.call("tools/call", {"name": "portcullis__secure_call_tools", "arguments": by_server})
    assert data(answer)["results"][0]["result"]["content"][0]["text"] == "two"


async def test_discovery_and_server_info_show_what_the_policy_allows_legacy(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    olga = await legacy(http, gateway, OPS_KEY)
    found = data(await olga.call("tools/call", {"name": "portcullis__discover_all_tools", "arguments": {}}))
    tools = {server["name"]: {tool["name"] for tool in server["tools"]} for server in found["servers"]}
    assert "one__echo" in tools["one"] and "one__add" not in tools["one"] and "two__add" in tools["two"]
    assert not any(name.startswith("portcullis") for names_ in tools.values() for name in names_)
    info = data(
        await olga.call(
            "tools/call", {"name": "portcullis__get_server_info", "arguments": {"server_name": "two"}}
        )
    )
    assert info["name"] == "two" and info["state"] == "running"
    assert info["tools_count"] == len(tools["two"]) and info["instructions"] == "Fixture server two."
    unknown = await olga.call(
        "tools/call", {"name": "portcullis__get_server_info", "arguments": {"server_name": "x"}}
    )
    assert unknown["result"]["isError"]


async def test_modern_era_lists_privately_and_batches(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    async def modern(key: str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        status, answer = await post(http, gateway, request(method, params), key=key)
        assert status == 200, answer
        return answer

    listed = await modern(OPS_KEY, "tools/list")
    assert names(listed, "tools") >= TOOLS and listed["result"]["cacheScope"] == "private"
    others = await modern(DEV_KEY, "tools/list")
    assert not TOOLS & names(others, "tools") and others["result"]["cacheScope"] == "private"
    answer = await modern(
        OPS_KEY, "tools/call", {"name": "portcullis__secure_call_tools", "arguments": BATCH}
    )
    check_batch(data(answer)["results"])
    servers = await modern(OPS_KEY, "tools/call", {"name": "portcullis__list_all_servers", "arguments": {}})
    assert [server["name"] for server in data(servers)["servers"]] == ["one", "two"]


def test_a_prefix_a_server_already_has_is_refused_at_start() -> None:
    clash = settings(prefix="two")
    with pytest.raises(
        SettingsError, match=r"gateway_tools.prefix: 'two' and the prefix 'two' of server 'two'"
    ):
        Gateway(Settings(**clash), key_hashes={})


async def test_a_policy_names_the_gateway_tools_like_a_servers_tools(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    oscar = await legacy(http, gateway, OSCAR_KEY)
    listed = names(await oscar.call("tools/list"), "tools")
    assert "portcullis__list_all_servers" in listed and "portcullis__secure_call_tools" not in listed
    refused = await oscar.call("tools/call", {"name": "portcullis__secure_call_tools", "arguments": BATCH})
    assert refused_by(refused, "oscar-no-batch")


async def test_timeout_metrics_and_cache_tools_answer_from_their_parts(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    olga = await legacy(http, gateway, OPS_KEY)
    await olga.call("tools/call", {"name": "one__echo", "arguments": {"text": "counted"}})
    metrics = data(
        await olga.call("tools/call", {"name": "portcullis__get_timeout_metrics", "arguments": {}})
    )
    execution = metrics["operation_types"]["tool_execution"]
    assert execution["operations"] >= 1 and execution["timeout"] > 0
    status = data(await olga.call("tools/call", {"name": "portcullis__get_cache_status", "arguments": {}}))
    assert "backend" in status
    cleared = {"name": "portcullis__clear_cache", "arguments": {"server_name": "one"}}
    assert data(await olga.call("tools/call", cleared))["server"] == "one"
    hidden = {"name": "portcullis__clear_cache", "arguments": {"server_name": "nope"}}
    assert (await olga.call("tools/call", hidden))["result"]["isError"]


async def test_the_guardrails_judge_each_call_of_a_batch(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    olga = await legacy(http, gateway, OPS_KEY)
    batch = {"tool_calls": [{"tool": "two__echo", "arguments": {"text": f"token {secret}"}}]}
    answer = await olga.call("tools/call", {"name": "portcullis__secure_call_tools", "arguments": batch})
    assert secret not in orjson.dumps(answer).decode()
    result = data(answer)["results"][0]["result"]
    findings = result["_meta"]["io.portcullis/guardrails"]["findings"]
    assert {(f["detector"], f["where"]) for f in findings} >= {
        ("secrets", "text"),
        ("secrets", "content[0].text"),
    }
