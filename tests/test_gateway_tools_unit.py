"""The gateway tools' settings and opt-in rules, in process: which tools are offered, to whom,
and what is refused before anything starts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.gateway_tools import RouterWithGatewayTools, with_gateway_tools
from gateway.settings import Settings
from gateway.settings.gateway_tools import GatewayToolsSettings, prefix_problems
from middleware.protocol import ANONYMOUS, MCPScope, Principal, Receive, Send, response_event, result_message
from middleware.protocol.testing import call, make_test_scope
from upstream.routing.catalog import Namespace
from upstream.routing.interest import Interest
from upstream.routing.owners import NameOwners
from upstream.routing.router import Router
from upstream.routing.tasks import TaskMap


async def upstream_tools(scope: MCPScope, receive: Receive, send: Send) -> None:
    """Stands for the router: one upstream tool, or an unknown tool for any call."""
    if scope["method"] == "tools/list":
        await send(response_event(result_message(scope["id"], {"tools": [{"name": "one__echo"}]})))
    else:
        await send(response_event(result_message(scope["id"], {"content": [], "isError": True})))


def tools(**table: Any) -> tuple[Any, NameOwners]:
    settings = Settings(gateway_tools={"enabled": True, **table})
    router = Router({}, Namespace({}, "__"), interest=Interest(), tasks=TaskMap())
    app, owners, finish = with_gateway_tools(upstream_tools, router, settings)
    finish(app)
    return app, owners


async def listed(app: Any, principal: Principal) -> list[str]:
    events = await call(app, make_test_scope("tools/list", principal=principal))
    return [tool["name"] for tool in events[-1]["message"]["result"]["tools"]]


async def test_only_the_named_tools_for_the_opted_in_projects() -> None:
    app, owners = tools(projects=["ops-*"], tools=["list_all_servers"], prefix="gw")
    assert await listed(app, Principal("o", project="ops-east")) == ["one__echo", "gw__list_all_servers"]
    assert await listed(app, Principal("d", project="dev")) == ["one__echo"]
    assert await listed(app, ANONYMOUS) == ["one__echo"]
    owner = owners.listed_owner("tools/list", "gw__list_all_servers")
    assert owner is not None and (owner.server, owner.name) == ("gw", "list_all_servers")
    assert isinstance(owners, RouterWithGatewayTools) and owners.listed_owner("tools/list", "x") is None


async def test_callers_without_a_project_only_when_said_so() -> None:
    app, _ = tools(without_project=True)
    names = await listed(app, ANONYMOUS)
    assert (
        "portcullis__secure_call_tools" in names and "portcullis__get_cache_status" not in names
    )  # no backing
    events = await call(app, make_test_scope("tools/call", {"name": "portcullis__list_all_servers"}))
    assert events[-1]["message"]["result"]["structuredContent"] == {"servers": []}


def test_off_and_pinned_endpoints_are_left_alone() -> None:
    router = Router({}, Namespace({}, "__"), interest=Interest(), tasks=TaskMap())
    app, owners, _ = with_gateway_tools(upstream_tools, router, Settings())
    assert app is upstream_tools and owners is router


def test_settings_refuse_a_bad_or_taken_prefix() -> None:
    with pytest.raises(ValidationError, match="a prefix is 1-63"):
        GatewayToolsSettings(prefix="not ok")
    taken = GatewayToolsSettings(enabled=True, prefix="git")
    servers = {"github": "git", "files": "files", "inner": "git__hub", "outer": "gi", "flat": ""}
    assert prefix_problems(taken, servers, "__") == [
        "gateway_tools.prefix: 'git' and the prefix 'git' of server 'github' may name the same tools; "
        "set another `prefix` in [gateway_tools] or on [servers.github]",
        "gateway_tools.prefix: 'git' and the prefix 'git__hub' of server 'inner' may name the same tools; "
        "set another `prefix` in [gateway_tools] or on [servers.inner]",
    ]
    assert prefix_problems(GatewayToolsSettings(enabled=True, prefix="a_b"), {"s": "a"}, "_")
    assert prefix_problems(GatewayToolsSettings(prefix="git"), {"github": "git"}, "__") == []
    with pytest.raises(ValidationError):
        GatewayToolsSettings(max_batch=0)
