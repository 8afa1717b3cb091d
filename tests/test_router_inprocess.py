"""The router in process: supervisors over mock transports, one call at a time through
``middleware.protocol.testing.call`` (no subprocess, no socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from gateway.front.own_answers import OwnAnswers
from middleware.protocol import Event
from middleware.protocol.testing import call, make_test_scope
from upstream.pool.supervisor import ServerSpec, ServerSupervisor, Supervisor
from upstream.routing.catalog import Namespace
from upstream.routing.interest import Interest
from upstream.routing.pages import SnapshotLimits
from upstream.routing.readiness import Readiness
from upstream.routing.router import Router
from upstream.routing.tasks import TaskMap
from upstream.transports.mock import MockTransport, mcp_server

Tools = dict[str, Callable[[dict[str, Any]], str]]


def server_tools(name: str, *tools: str) -> Tools:
    return {tool: (lambda args, tool=tool: f"{name}:{tool}") for tool in tools}


def supervisor(name: str, tools: Tools, instructions: str | None = None) -> Supervisor:
    spec = ServerSpec(
        name=name,
        connect=lambda: MockTransport(mcp_server(tools, name=name, instructions=instructions)),
        era="legacy",
        probe_timeout=None,
    )
    return ServerSupervisor(
        spec, client_info={"name": "test"}, on_notification=lambda *_: None, on_restart=lambda _: None
    )


@asynccontextmanager
async def routed(
    servers: dict[str, Tools],
    *,
    prefixes: dict[str, str] | None = None,
    pinned: str | None = None,
    **options: Any,
) -> AsyncIterator[Router]:
    supervisors = {name: supervisor(name, tools) for name, tools in servers.items()}
    namespace = Namespace({pinned: ""} if pinned else (prefixes or {}), "__")
    router = Router(supervisors, namespace, interest=Interest(), tasks=TaskMap(), pinned=pinned, **options)
    try:
        yield router
    finally:
        for each in supervisors.values():
            await each.close()


async def answer(router: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    events: list[Event] = await call(router, make_test_scope(method, params))
    message: dict[str, Any] = events[-1]["message"]
    return message


async def walk(router: Router) -> list[str]:
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        result = (await answer(router, "tools/list", params))["result"]
        names += [tool["name"] for tool in result["tools"]]
        if "nextCursor" not in result:
            return names
        params = {"cursor": result["nextCursor"]}


async def test_a_call_goes_to_the_server_its_prefix_names() -> None:
    servers = {"alpha": server_tools("alpha", "echo"), "beta": server_tools("beta", "echo")}
    async with routed(servers) as router:
        for server in ("alpha", "beta"):
            result = await answer(router, "tools/call", {"name": f"{server}__echo", "arguments": {}})
            assert result["result"]["content"][0]["text"] == f"{server}:echo"


async def test_a_pinned_endpoint_shows_one_server_unprefixed() -> None:
    servers = {"alpha": server_tools("alpha", "echo"), "beta": server_tools("beta", "echo", "only")}
    async with routed(servers, pinned="beta") as router:
        assert await walk(router) == ["echo", "only"]
        result = await answer(router, "tools/call", {"name": "echo", "arguments": {}})
        assert result["result"]["content"][0]["text"] == "beta:echo"
        # A method the router does not know goes to the pinned server as it is.
        assert (await answer(router, "ping"))["result"] == {}


async def test_an_unknown_tool_is_the_clients_mistake() -> None:
    async with routed({"alpha": server_tools("alpha", "echo")}) as router:
        error = (await answer(router, "tools/call", {"name": "alpha__nope"}))["error"]
        assert error["code"] == -32602
        assert "unknown tool 'alpha__nope'" in error["message"]
        assert error["data"]["fault"] == "client"


async def test_pages_cover_every_tool_once_and_a_gone_cursor_is_refused() -> None:
    tools = server_tools("alpha", *(f"t{i}" for i in range(5)))
    no_old_snapshots = SnapshotLimits(max_bytes=0)
    async with routed({"alpha": tools}, page_size=2, snapshots=no_old_snapshots) as router:
        assert await walk(router) == [f"alpha__t{i}" for i in range(5)]
        cursor = (await answer(router, "tools/list"))["result"]["nextCursor"]
        assert (await answer(router, "tools/list", {"cursor": cursor}))["result"]["tools"]
        tools["t9"] = lambda args: "new"  # the list changes: a new version, the old one is dropped
        assert "alpha__t9" in await walk(router)
        error = (await answer(router, "tools/list", {"cursor": cursor}))["error"]
        assert error["code"] == -32602
        assert error["message"] == "the list changed or the cursor expired: list again from the start"
        garbage = (await answer(router, "tools/list", {"cursor": "not-ours"}))["error"]
        assert garbage["code"] == -32602 and "invalid cursor" in garbage["message"]


async def test_a_name_two_servers_offer_is_refused_whoever_lists_first() -> None:
    servers = {
        "impostor": server_tools("impostor", "alpha__echo", "shared"),
        "alpha": server_tools("alpha", "echo"),
        "other": server_tools("other", "shared"),
    }
    async with routed(servers, prefixes={"impostor": "", "other": ""}) as router:
        assert await walk(router) == ["alpha__echo"]
        result = await answer(router, "tools/call", {"name": "alpha__echo", "arguments": {}})
        assert result["result"]["content"][0]["text"] == "alpha:echo"
        error = (await answer(router, "tools/call", {"name": "shared"}))["error"]
        assert "offered by servers 'impostor' and 'other'" in error["message"]
        assert error["data"]["fault"] == "policy"


async def test_initialize_waits_for_a_lazy_server_within_the_patience() -> None:
    supervisors = {"alpha": supervisor("alpha", {}, instructions="Use alpha.")}
    router = Router(supervisors, Namespace({}, "__"), interest=Interest(), tasks=TaskMap())
    readiness = Readiness(supervisors, patience=5)
    own = OwnAnswers(router, server_info={"name": "portcullis"}, readiness=readiness)
    try:
        result = (await answer(own, "initialize"))["result"]
        assert result["instructions"] == "[alpha] Use alpha."
        assert (await answer(own, "ping"))["result"] == {}
    finally:
        await readiness.close()
        await supervisors["alpha"].close()


async def test_an_upstreams_own_error_says_whose_fault_it_is() -> None:
    """Relayed as the upstream sent it, plus data.fault (see blame_relayed)."""
    async with routed({"a": server_tools("a", "t")}, pinned="a") as router:
        relayed = await answer(router, "vendor/thing", {})
    assert relayed["error"]["code"] == -32601, relayed  # the mock server knows no such method
    assert relayed["error"]["data"] == {"fault": "client"}
