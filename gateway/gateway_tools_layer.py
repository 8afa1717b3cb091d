"""The gateway tools' MCP-tier layer: it adds the tools to ``tools/list`` of opted-in callers
and answers their calls.

It sits innermost, around the gateway's own answers, so that policies, rate limits, plugins and
guardrails judge a call to a gateway tool like any other call. Every look at the upstreams
(discovery, counts) and every call of a batch goes back through the *whole* MCP stack as a child
scope of its own: what a caller learns or runs here is exactly what it could learn or run by
itself. Cache status/clearing and timeout metrics are other parts' work, a Protocol each: without
its backing a tool is not offered. Wiring it into an endpoint is :mod:`gateway.gateway_tools`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import orjson

from gateway.settings import Settings
from gateway.settings.gateway_tools import BACKED_BY, DEFINITIONS
from middleware.authz.policy_globs import compile_globs
from middleware.protocol import (
    CLIENT_RESPONSE,
    METHOD_NOT_FOUND,
    RESPONSE,
    SERVER_REQUEST,
    TARGET_NAME,
    TARGET_SERVER,
    VARIES_BY_PRINCIPAL,
    Event,
    MCPApp,
    Message,
    Principal,
    Receive,
    Scope,
    Send,
    child_scope,
    error_message,
    is_modern,
    response_event,
    result_message,
    tool_error,
)
from upstream.routing.catalog import Namespace
from upstream.routing.router import Router

MAX_PAGES: Final = 100
"""Pages of a merged list read for one discovery: a bound, not an expected size."""
NO_QUESTIONS: Final = "a call of a batch cannot ask the client anything; call the tool by itself"
Arguments = dict[str, Any]


class CacheControl(Protocol):
    """The caches' statistics and clearing; given by the caching work when it runs."""

    def cache_status(self) -> dict[str, Any]: ...

    async def clear_cache(self, server: str | None, cache_type: str | None) -> dict[str, Any]: ...


class TimeoutMetrics(Protocol):
    """Timeouts per operation type and how often each fired; given by the timeout manager."""

    def timeout_metrics(self) -> dict[str, Any]: ...


class ToolFailure(Exception):
    """A gateway tool refused its arguments: it answers with a tool error (``isError``)."""


class GatewayTools:
    """The MCP-tier layer: adds the tools to ``tools/list`` of opted-in callers, answers their calls."""

    def __init__(
        self,
        app: MCPApp,
        router: Router,
        *,
        settings: Settings,
        screen: Callable[[str, str], bool] | None = None,
        project_servers: Callable[[str], tuple[str, ...] | None] | None = None,
        cache: CacheControl | None = None,
        timeouts: TimeoutMetrics | None = None,
    ) -> None:
        self.app = app
        self.router = router
        self.outer: MCPApp | None = None
        """The whole MCP stack of the endpoint, given once it is built (``with_gateway_tools``)."""
        self.config = config = settings.gateway_tools
        self.namespace = Namespace(settings.prefixes, settings.routing.separator)
        self.prefix = config.prefix
        self._screen, self._project_servers = screen, project_servers
        self._cache, self._timeouts = cache, timeouts
        self._projects = compile_globs(config.projects)
        backing = {"cache": cache, "timeouts": timeouts}
        offered = [
            name
            for name in (DEFINITIONS if config.tools is None else config.tools)
            if name in DEFINITIONS and (name not in BACKED_BY or backing[BACKED_BY[name]] is not None)
        ]
        self.names = {f"{config.prefix}{settings.routing.separator}{name}": name for name in offered}
        self.definitions = [self._definition(exposed, name) for exposed, name in self.names.items()]
        self._handlers: dict[str, Callable[[Scope, Arguments, Send], Awaitable[dict[str, Any]]]] = {
            "list_all_servers": self._list_servers,
            "get_server_info": self._server_info,
            "discover_all_tools": self._discover,
            "secure_call_tools": self._batch,
            "get_cache_status": self._cache_status,
            "clear_cache": self._clear_cache,
            "get_timeout_metrics": self._timeout_metrics,
        }

    @staticmethod
    def _definition(exposed: str, name: str) -> dict[str, Any]:
        description, schema, annotations = DEFINITIONS[name]
        return {
            "name": exposed,
            "description": description,
            "inputSchema": schema,
            "annotations": annotations,
        }

    def opted_in(self, principal: Principal) -> bool:
        """Per project; a caller without one only when ``without_project`` says so."""
        if principal.project is None:
            return self.config.without_project
        return self._projects(principal.project)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "tools/list" and scope["id"] is not None:
            await self._list(scope, receive, send)
            return
        name = scope["params"].get("name") if method == "tools/call" else None
        if name not in self.names or scope["id"] is None or not self.opted_in(scope["principal"]):
            await self.app(scope, receive, send)  # not ours, or not for this caller: unknown tool
            return
        scope["state"].update({TARGET_SERVER: self.prefix, TARGET_NAME: self.names[name]})  # for the logs
        arguments = scope["params"].get("arguments")
        try:
            if arguments is not None and not isinstance(arguments, dict):
                raise ToolFailure("arguments must be an object")
            data = await self._handlers[self.names[name]](scope, arguments or {}, send)
        except ToolFailure as failure:
            await send(tool_error(scope, str(failure)))
            return
        text = orjson.dumps(data).decode()
        result = {"content": [{"type": "text", "text": text}], "structuredContent": data}
        await send(response_event(result_message(scope["id"], result)))

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Who sees the tools depends on the caller: every list is private from here on."""
        scope["state"][VARIES_BY_PRINCIPAL] = True
        if "cursor" in scope["params"] or not self.opted_in(scope["principal"]):
            await self.app(scope, receive, send)
            return

        async def with_ours(event: Event) -> None:
            result = event["message"].get("result") if event["type"] == RESPONSE else None
            if isinstance(result, dict) and isinstance(result.get("tools"), list):
                listed = {**result, "tools": [*result["tools"], *self.definitions]}
                event = response_event({**event["message"], "result": listed})
            await send(event)

        await self.app(scope, receive, with_ours)

    async def through(self, scope: Scope, method: str, params: dict[str, Any], send: Send) -> Message:
        """One call on the caller's behalf through the whole stack, as its own child scope:
        its notifications go to the caller, a question it asks is refused (nobody can answer)."""
        assert self.outer is not None, "with_gateway_tools gives the stack once it is built"
        child = child_scope(
            scope, method=method, request_id=f"{scope['id']}.{method}", params=params, fresh_state=True
        )
        answers: asyncio.Queue[Event] = asyncio.Queue()
        final: list[Message] = []

        async def child_send(event: Event) -> None:
            if event["type"] == RESPONSE:
                final.append(event["message"])
            elif event["type"] == SERVER_REQUEST:
                refusal = error_message(event["message"].get("id"), METHOD_NOT_FOUND, NO_QUESTIONS)
                answers.put_nowait({"type": CLIENT_RESPONSE, "message": refusal})
            else:
                await send(event)

        await self.outer(child, answers.get, child_send)
        return final[-1] if final else error_message(child["id"], METHOD_NOT_FOUND, "no answer")

    async def listed(self, scope: Scope, kind: str, send: Send) -> list[tuple[str, dict[str, Any]]]:
        """Every item of a merged list the caller may see, with the server that owns it."""
        items: list[tuple[str, dict[str, Any]]] = []
        params: dict[str, Any] = {}
        for _ in range(MAX_PAGES):
            answer = await self.through(scope, f"{kind}/list", params, send)
            result = answer.get("result")
            if not isinstance(result, dict):
                break
            for item in result.get(kind) or []:
                key = item.get("uri" if kind == "resources" else "name") if isinstance(item, dict) else None
                owner = self.router.listed_owner(f"{kind}/list", key) if isinstance(key, str) else None
                if owner is not None:
                    items.append((owner.server, item))
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str):
                break
            params = {"cursor": cursor}
        return items

    def _visible_servers(self, principal: Principal) -> list[str]:
        """The servers of the caller's project binding (the policies' own source)."""
        globs = (
            self._project_servers(principal.project) if self._project_servers and principal.project else None
        )
        if globs is None:
            return list(self.router.servers)
        bound = compile_globs(globs)
        return [server for server in self.router.servers if bound(server)]

    def _server(self, scope: Scope, arguments: Arguments, *, required: bool) -> str | None:
        name = arguments.get("server_name")
        if name is None and not required:
            return None
        if not isinstance(name, str) or name not in self._visible_servers(scope["principal"]):
            raise ToolFailure(f"no server named {str(name)[:100]!r} is available to you")
        return name

    def _describe(self, server: str) -> dict[str, Any]:
        supervisor = self.router.supervisors[server]
        identity = supervisor.identity
        version = identity.protocol_version if identity is not None else None
        era = None if version is None else "modern" if is_modern(version) else "legacy"
        return {"name": server, **supervisor.status().as_json(), "era": era, "protocol_version": version}

    async def _list_servers(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        return {"servers": [self._describe(server) for server in self._visible_servers(scope["principal"])]}

    async def _server_info(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        server = self._server(scope, arguments, required=True)
        assert server is not None
        info = self._describe(server)
        for kind in ("tools", "prompts", "resources"):
            info[f"{kind}_count"] = sum(
                1 for owner, _ in await self.listed(scope, kind, send) if owner == server
            )
        identity = self.router.supervisors[server].identity
        notes = identity.instructions if identity is not None else None
        if notes and (self._screen is None or self._screen(server, notes)):
            info["instructions"] = notes
        return info

    async def _discover(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        only = self._server(scope, arguments, required=False)
        found: dict[str, list[dict[str, Any]]] = {
            server: [] for server in self._visible_servers(scope["principal"]) if only in (None, server)
        }
        for server, tool in await self.listed(scope, "tools", send):
            if server in found:
                found[server].append(tool)
        return {"servers": [{"name": server, "tools": tools} for server, tools in found.items()]}

    async def _batch(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        """Each call goes through the whole stack, one after the other, results in order."""
        calls = arguments.get("tool_calls")
        if not isinstance(calls, list) or not calls:
            raise ToolFailure("tool_calls must be a non-empty list of {tool, arguments}")
        if len(calls) > self.config.max_batch:
            raise ToolFailure(f"at most {self.config.max_batch} calls in one batch, not {len(calls)}")
        server = self._server(scope, arguments, required=False)
        planned = [self._planned(call, server) for call in calls]
        results = []
        for name, call_arguments in planned:
            answer = await self.through(
                scope, "tools/call", {"name": name, "arguments": call_arguments}, send
            )
            entry: dict[str, Any] = {"tool": name}
            entry.update(
                {"error": answer["error"]} if "error" in answer else {"result": answer.get("result")}
            )
            results.append(entry)
        return {"results": results}

    def _planned(self, call: Any, server: str | None) -> tuple[str, Arguments]:
        """One ``{tool, arguments}``, as the exposed name to call; a batch calls no gateway tool."""
        tool = call.get("tool") if isinstance(call, dict) else None
        arguments = call.get("arguments", {}) if isinstance(call, dict) else None
        if not isinstance(tool, str) or not isinstance(arguments, dict):
            raise ToolFailure("each of tool_calls is {tool: string, arguments: object}")
        name = self.namespace.expose(server, tool) if server is not None else tool
        if name in self.names:
            raise ToolFailure(f"{name!r} is a gateway tool; a batch calls the servers' tools")
        return name, arguments

    async def _cache_status(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        assert self._cache is not None  # only offered with it
        return self._cache.cache_status()

    async def _clear_cache(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        assert self._cache is not None
        server = self._server(scope, arguments, required=False)
        cache_type = arguments.get("cache_type")
        if cache_type is not None and not isinstance(cache_type, str):
            raise ToolFailure("cache_type must be a string")
        return await self._cache.clear_cache(server, cache_type)

    async def _timeout_metrics(self, scope: Scope, arguments: Arguments, send: Send) -> dict[str, Any]:
        assert self._timeouts is not None
        return self._timeouts.timeout_metrics()
