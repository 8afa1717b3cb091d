"""The policy middleware in process: lists filtered and private, calls refused with the rule and
an audit line, the project binding, and nothing paid when there is nothing to enforce."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.policies import compiled_rules, with_policies
from gateway.settings import Settings
from gateway.settings.policy import PolicyRule
from middleware.authz.authorize import Authorize
from middleware.authz.policy import Kind, Policy
from middleware.protocol import (
    FORBIDDEN,
    VARIES_BY_PRINCIPAL,
    Principal,
    Receive,
    Scope,
    Send,
    response_event,
    result_message,
)
from middleware.protocol.testing import call, make_test_scope

ALICE = Principal("alice")
BOB = Principal("bob")
CAROL = Principal("carol", project="acme")
SECRET = "s3cr3t-argument-value"

TOOLS = [{"name": "one__echo"}, {"name": "one__add"}, {"name": "two__echo"}, {"name": "stale__gone"}]
OWNERS = {
    "one__echo": ("one", "echo"),
    "one__add": ("one", "add"),
    "two__echo": ("two", "echo"),
    "one__greet": ("one", "greet"),
}


class FakeOwners:
    def listed(self, scope: Scope, list_method: str, key: str) -> tuple[str, str] | None:
        return OWNERS.get(key) or ((key.split("/")[2], key) if key.startswith("fixture://") else None)

    async def called(self, scope: Scope, kind: Kind, key: str) -> tuple[str, str] | None:
        return self.listed(scope, "", key)


class Upstream:
    """The inner app: answers lists with everything, calls with "called"."""

    def __init__(self) -> None:
        self.calls: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append(scope)
        method = scope["method"]
        if method == "tools/list":
            result: dict[str, Any] = {"tools": TOOLS, "nextCursor": "c1"}
            if scope["protocol_version"] == "2026-07-28":
                result |= {"ttlMs": 1000, "cacheScope": "public"}
        elif method == "resources/list":
            result = {"resources": [{"uri": "fixture://one/info"}, {"uri": "fixture://two/info"}]}
        else:
            result = {"content": [{"type": "text", "text": "called"}]}
        await send(response_event(result_message(scope["id"], result)))


def authorize(*rules: dict[str, Any], **options: Any) -> tuple[Authorize, Upstream]:
    upstream = Upstream()
    policy = Policy(compiled_rules([PolicyRule.model_validate(rule) for rule in rules]))
    return Authorize(upstream, policy, owners=FakeOwners(), **options), upstream


BOB_NO_ADD = {"name": "bob-no-add", "effect": "deny", "principals": ["bob"], "tools": ["add"]}


async def answer(app: Any, method: str, params: dict[str, Any] | None = None, **scope: Any) -> dict[str, Any]:
    events = await call(app, make_test_scope(method, params, **scope))
    message: dict[str, Any] = events[-1]["message"]
    return message


async def test_a_list_shows_each_caller_what_it_may_use_and_is_private() -> None:
    app, upstream = authorize(BOB_NO_ADD)
    scope = make_test_scope("tools/list", principal=BOB, protocol_version="2026-07-28")
    [event] = await call(app, scope)
    result = event["message"]["result"]
    assert [t["name"] for t in result["tools"]] == ["one__echo", "two__echo"], "unowned (stale) items go too"
    assert result["nextCursor"] == "c1" and result["ttlMs"] == 1000
    assert result["cacheScope"] == "private"
    assert upstream.calls[0]["state"][VARIES_BY_PRINCIPAL] is True
    alice = await answer(app, "tools/list", principal=ALICE)
    assert [t["name"] for t in alice["result"]["tools"]] == ["one__echo", "one__add", "two__echo"]


async def test_a_call_the_caller_may_not_make_is_refused_with_the_rule_and_audited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, upstream = authorize(BOB_NO_ADD)
    caplog.set_level(logging.INFO, logger="portcullis.audit")
    params = {"name": "one__add", "arguments": {"a": SECRET}}
    refused = await answer(app, "tools/call", params, principal=BOB)
    error = refused["error"]
    assert error["code"] == FORBIDDEN
    assert (
        error["message"]
        == "denied by policy rule 'bob-no-add': tool 'add' of server 'one' is denied to this caller"
    )
    assert error["data"] == {"fault": "policy", "rule": "bob-no-add", "kind": "tool", "name": "add"}
    assert upstream.calls == []
    [record] = [r for r in caplog.records if r.name == "portcullis.audit"]
    line = record.getMessage()
    assert "rule=bob-no-add principal=bob project=- method=tools/call server=one target=add" in line
    assert SECRET not in line and SECRET not in str(record.args)
    allowed = await answer(app, "tools/call", params, principal=ALICE)
    assert allowed["result"]["content"][0]["text"] == "called"


async def test_an_argument_condition_allows_one_call_and_refuses_another() -> None:
    app, _ = authorize({"name": "short", "effect": "deny", "tools": ["echo"], "when": "len(args.text) > 5"})
    ok = await answer(app, "tools/call", {"name": "one__echo", "arguments": {"text": "hi"}})
    assert "result" in ok
    refused = await answer(app, "tools/call", {"name": "one__echo", "arguments": {"text": SECRET}})
    assert "with these arguments" in refused["error"]["message"] and SECRET not in str(refused)


async def test_the_project_binding_limits_lists_calls_and_pinned_endpoints() -> None:
    bound = {"acme": ("one",)}
    app, _ = authorize(project_servers=bound.get)
    listed = await answer(app, "tools/list", principal=CAROL)
    assert [t["name"] for t in listed["result"]["tools"]] == ["one__echo", "one__add"]
    resources = await answer(app, "resources/list", principal=CAROL)
    assert [r["uri"] for r in resources["result"]["resources"]] == ["fixture://one/info"]
    refused = await answer(app, "tools/call", {"name": "two__echo"}, principal=CAROL)
    assert refused["error"]["data"]["rule"] == "project:acme"
    assert "outside the servers of project 'acme'" in refused["error"]["message"]
    read = await answer(app, "resources/read", {"uri": "fixture://two/info"}, principal=CAROL)
    assert read["error"]["data"]["rule"] == "project:acme"
    pinned = await answer(app, "initialize", {}, principal=CAROL, server="two")
    assert pinned["error"]["message"].startswith("denied by policy rule 'project:acme': server 'two'")
    assert "result" in await answer(app, "ping", {}, principal=CAROL, server="two")
    assert "result" in await answer(app, "tools/call", {"name": "two__echo"}, principal=BOB), "no project"


async def test_a_pinned_endpoint_of_a_denied_server_refuses_all_but_ping() -> None:
    app, _ = authorize({"name": "no-two", "effect": "deny", "principals": ["bob"], "servers": ["two"]})
    assert "error" in await answer(app, "logging/setLevel", {"level": "info"}, principal=BOB, server="two")
    assert "result" in await answer(app, "logging/setLevel", {"level": "info"}, principal=BOB, server="one")
    assert "result" in await answer(app, "ping", {}, principal=BOB, server="two")


async def test_completing_a_hidden_prompt_is_refused() -> None:
    app, _ = authorize({"name": "no-greet", "effect": "deny", "prompts": ["greet"]})
    params = {"ref": {"type": "ref/prompt", "name": "one__greet"}, "argument": {"name": "n", "value": ""}}
    refused = await answer(app, "completion/complete", params)
    assert refused["error"]["data"]["rule"] == "no-greet"
    other = await answer(app, "completion/complete", {**params, "ref": {"type": "ref/prompt", "name": "x"}})
    assert "result" in other


async def test_nothing_to_enforce_costs_nothing() -> None:
    upstream = Upstream()
    assert with_policies(upstream, Settings(), router=None) is upstream  # type: ignore[arg-type]
    app, inner = authorize({"name": "tools", "effect": "deny", "tools": ["x"]})
    scope = make_test_scope("prompts/list")
    await call(app, scope)
    assert VARIES_BY_PRINCIPAL not in inner.calls[0]["state"], "prompts are not governed: left alone"
