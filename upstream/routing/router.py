"""The router: the innermost app of the MCP tier.

It forwards envelopes rather than re-implementing MCP methods: it only understands the params
that carry a name (tool, prompt, resource URI, completion reference), translates them, and
passes everything else through untouched. Lists are fanned out to every server of the
endpoint and merged in configuration order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final

from middleware.protocol import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    LEGACY_VERSIONS,
    META_SERVER_INFO,
    METHOD_NOT_FOUND,
    MODERN_VERSIONS,
    RESOURCE_NOT_FOUND,
    InvalidRequest,
    Message,
    Principal,
    Receive,
    Scope,
    Send,
    error_event,
    is_modern,
    response_event,
    result_message,
)
from middleware.protocol.headers import HeaderMismatch
from middleware.protocol.param_headers import annotated, annotation_problem, check_param_headers
from upstream.pool.supervisor import Supervisor
from upstream.routing.cache_hints import CacheHints
from upstream.routing.catalog import (
    KIND_BY_LIST_METHOD,
    KINDS,
    PROMPTS,
    RESOURCES,
    TEMPLATES,
    TOOLS,
    Catalog,
    CollisionError,
    Kind,
    Namespace,
    Owner,
)
from upstream.routing.interest import LOG_LEVELS, Interest
from upstream.routing.pages import InvalidCursor, Pages
from upstream.routing.tasks import TaskMap, rewrite_task_ids
from upstream.session.channel import ClientChannel
from upstream.session.connection import UpstreamError

log = logging.getLogger("portcullis.router")

MAX_UPSTREAM_PAGES: Final = 100
_calling_session: ContextVar[str | None] = ContextVar("calling_session", default=None)
"""The gateway session of the call being routed, for servers with per-client upstream sessions."""
GATEWAY_CAPABILITIES: Final = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"listChanged": True, "subscribe": True},
    "completions": {},
    "logging": {},
    "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
}
MODERN_CAPABILITIES: Final = {key: value for key, value in GATEWAY_CAPABILITIES.items() if key != "tasks"}
"""Tasks left the 2026-07-28 core for an extension whose shape the gateway does not speak yet."""


def calling_session(scope: Scope) -> str | None:
    """Whose upstream session a per-client server uses for this call: the gateway session, or
    for a 2026-07-28 client (which has none) one per principal."""
    session: str | None = scope["session_id"]
    if session is None and is_modern(scope["protocol_version"]):
        principal: Principal = scope["principal"]
        return f"principal:{principal.name}"
    return session


class Router:
    """Routes the messages of one endpoint: all servers (prefixed) or one (pinned, unprefixed)."""

    def __init__(
        self,
        supervisors: Mapping[str, Supervisor],
        namespace: Namespace,
        *,
        server_info: dict[str, Any],
        interest: Interest,
        tasks: TaskMap,
        pinned: str | None = None,
        page_size: int = 100,
    ) -> None:
        self._supervisors = supervisors
        self._interest = interest
        self._tasks = tasks
        self._servers: Sequence[str] = [pinned] if pinned is not None else list(supervisors)
        self._pinned = pinned
        self._server_info = server_info
        self._catalogs = {kind: Catalog(kind, namespace, self._servers) for kind in KINDS}
        self._pages = {kind: Pages(kind.list_method, page_size) for kind in KINDS}
        self._namespace = namespace
        self._down: dict[str, UpstreamError] = {}
        self._reported: set[str] = set()
        """Why each server could not list its names at the last refresh."""
        self._hints = CacheHints(supervisors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        _calling_session.set(calling_session(scope))
        if scope["id"] is None:
            return  # client notifications end here; cancellation is handled by the endpoint
        kind = KIND_BY_LIST_METHOD.get(method)
        if kind is not None:
            await self._list(scope, send, kind)
        elif method == "tools/call":
            await self._call_named(scope, receive, send, TOOLS, "name")
        elif method == "prompts/get":
            await self._call_named(scope, receive, send, PROMPTS, "name")
        elif method == "resources/read":
            await self._call_resource(scope, receive, send)
        elif method in ("resources/subscribe", "resources/unsubscribe"):
            await self._subscription(scope, send, subscribe=method == "resources/subscribe")
        elif method == "logging/setLevel":
            await self._set_log_level(scope, send)
        elif method in ("tasks/get", "tasks/result", "tasks/cancel"):
            await self._task_call(scope, receive, send)
        elif method == "tasks/list":
            await self._list_tasks(scope, send)
        elif method == "completion/complete":
            await self._complete(scope, receive, send)
        elif method == "initialize":
            await send(response_event(result_message(scope["id"], self._initialize_result(scope))))
        elif method == "server/discover":
            await send(response_event(result_message(scope["id"], self._discover_result(scope))))
        elif method == "ping":
            await send(response_event(result_message(scope["id"], {})))
        elif self._pinned is not None:
            await self._forward(scope, receive, send, self._pinned, scope["params"])
        else:
            await send(
                error_event(
                    scope,
                    METHOD_NOT_FOUND,
                    f"method {method!r} is not supported by the aggregate endpoint",
                    fault="client",
                )
            )

    async def prime(self) -> None:
        """List everything of the running servers once, refusing to start on a collision."""
        problems: list[str] = []
        for kind in KINDS:
            problems += await self._refresh(kind, started_only=True)
        if problems:
            raise CollisionError("; ".join(problems))

    async def _set_log_level(self, scope: Scope, send: Send) -> None:
        level = scope["params"].get("level")
        if level not in LOG_LEVELS:
            await send(
                error_event(
                    scope, INVALID_PARAMS, f"level must be one of {', '.join(LOG_LEVELS)}", fault="client"
                )
            )
            return
        self._interest.set_log_level(_session_of(scope), level)
        await asyncio.gather(*(apply_log_level(self._supervisors[s], self._interest) for s in self._servers))
        await send(response_event(result_message(scope["id"], {})))

    async def _subscription(self, scope: Scope, send: Send, *, subscribe: bool) -> None:
        """One upstream subscription per (server, URI), however many sessions hold it."""
        found = await self._resource_or_refuse(scope, send)
        if found is None:
            return
        uri, owner = found
        server, session = owner.server, _session_of(scope)
        scope["state"]["target_server"] = server
        scope["state"]["target_name"] = uri
        interest = self._interest
        # In the turn of (server, uri): the upstream hears changes in the order they happen.
        async with interest.ordered(server, uri):
            changed = (
                interest.subscribe(session, server, uri)
                if subscribe
                else interest.unsubscribe(session, server, uri)
            )
            if changed:
                try:
                    connection = await self._supervisors[server].connection(_calling_session.get())
                    identity = connection.identity
                    if subscribe and not (
                        identity and (identity.capabilities.get("resources") or {}).get("subscribe")
                    ):
                        interest.unsubscribe(session, server, uri)
                        await send(
                            error_event(
                                scope,
                                METHOD_NOT_FOUND,
                                f"server {server!r} does not support resource subscriptions",
                                fault="client",
                            )
                        )
                        return
                    response = await connection.request(scope["method"], {"uri": uri})
                except UpstreamError as exc:
                    if subscribe:
                        interest.unsubscribe(session, server, uri)
                    await send(error_event(scope, exc.code, str(exc), fault="upstream"))
                    return
                if "error" in response:
                    if subscribe:
                        interest.unsubscribe(session, server, uri)
                    response["id"] = scope["id"]
                    await send(response_event(response))
                    return
        await send(response_event(result_message(scope["id"], {})))

    def _initialize_result(self, scope: Scope) -> dict[str, Any]:
        result: dict[str, Any] = {
            "protocolVersion": scope["protocol_version"],
            "capabilities": GATEWAY_CAPABILITIES,
            "serverInfo": self._server_info,
        }
        notes = []
        for server in self._servers:
            identity = self._supervisors[server].identity
            if identity is not None and identity.instructions:
                notes.append(identity.instructions if self._pinned else f"[{server}] {identity.instructions}")
        if notes:
            result["instructions"] = "\n\n".join(notes)
        return result

    def _discover_result(self, scope: Scope) -> dict[str, Any]:
        """What a modern client learns up front: every version we speak, and what we offer."""
        legacy = self._initialize_result(scope)
        result: dict[str, Any] = {
            "supportedVersions": [*MODERN_VERSIONS, *LEGACY_VERSIONS],
            "capabilities": MODERN_CAPABILITIES,
            "_meta": {META_SERVER_INFO: self._server_info},
            **self._hints.discover(),
        }
        if "instructions" in legacy:
            result["instructions"] = legacy["instructions"]
        return result

    async def _list(self, scope: Scope, send: Send, kind: Kind) -> None:
        pages = self._pages[kind]
        cursor = scope["params"].get("cursor")
        try:
            position = pages.decode(cursor) if cursor is not None else None
        except InvalidCursor as exc:
            await send(error_event(scope, INVALID_PARAMS, f"invalid cursor: {exc}", fault="client"))
            return
        items = pages.snapshot(position) if position is not None else None
        if items is None:
            await self._refresh(kind)
            items = self._catalogs[kind].merged()
        page, next_cursor = pages.page(items, position)
        result: dict[str, Any] = {kind.result_key: page}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        if is_modern(scope["protocol_version"]):
            result.update(self._hints.for_list(kind, self._servers, scope))
        await send(response_event(result_message(scope["id"], result)))

    async def _refresh(self, kind: Kind, *, started_only: bool = False) -> list[str]:
        servers = [s for s in self._servers if not started_only or self._supervisors[s].identity is not None]
        lists = await asyncio.gather(*(self._fetch_all(s, kind) for s in servers))
        catalog = self._catalogs[kind]
        problems: list[str] = []
        for server, items in zip(servers, lists, strict=True):
            if items is None:
                continue
            collisions = catalog.replace(server, items)
            for message in collisions:
                if message not in self._reported:  # once, not on every list
                    self._reported.add(message)
                    log.error("name collision refused: %s", message)
            problems += collisions
        return problems

    async def _fetch_all(self, server: str, kind: Kind) -> list[dict[str, Any]] | None:
        """Every page of one server's list, or None when the server cannot answer now."""
        try:
            connection = await self._supervisors[server].connection(_calling_session.get())
            self._down.pop(server, None)
            identity = connection.identity
            if identity is None or kind.capability not in identity.capabilities:
                return []
            items: list[dict[str, Any]] = []
            params: dict[str, Any] = {}
            for _ in range(MAX_UPSTREAM_PAGES):
                response = await connection.request(kind.list_method, params or None)
                result = response.get("result")
                if not isinstance(result, dict):
                    log.warning("[%s] %s failed: %s", server, kind.list_method, response.get("error"))
                    return None
                items += [i for i in result.get(kind.result_key) or () if isinstance(i, dict)]
                self._hints.saw_list(server, kind, result)
                cursor = result.get("nextCursor")
                if not cursor:
                    break
                params = {"cursor": cursor}
            return self._valid_tools(server, items) if kind is TOOLS else items
        except UpstreamError as exc:
            log.warning("%s; left out of %s", exc, kind.list_method)
            self._down[server] = exc
            return None

    def _valid_tools(self, server: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Leave out tools whose x-mcp-header annotations are invalid, as a 2026-07-28 client
        must: one bad definition does not take the others with it."""
        valid = []
        for tool in tools:
            problem = annotation_problem(tool.get("inputSchema"))
            if problem is None:
                valid.append(tool)
                continue
            message = f"[{server}] tool {tool.get('name')!r} left out: {problem}"
            if message not in self._reported:
                self._reported.add(message)
                log.warning("%s", message)
        return valid

    def _down_owner(self, name: str) -> UpstreamError | None:
        """Why the server that ``name`` would belong to is down, if it is: a call to a tool of a
        server that cannot start gets that reason, not a misleading "unknown tool"."""
        for server in self._servers:
            error = self._down.get(server)
            prefix = self._namespace.expose(server, "")
            if error is not None and (self._pinned is not None or (prefix and name.startswith(prefix))):
                return error
        return None

    async def _owner(self, kind: Kind, key: str) -> Owner | None:
        catalog = self._catalogs[kind]
        owner = catalog.owner(key)
        if owner is None:
            await self._refresh(kind)
            owner = catalog.owner(key)
        return owner

    async def _call_named(self, scope: Scope, receive: Receive, send: Send, kind: Kind, field: str) -> None:
        params: dict[str, Any] = scope["params"]
        name = params.get(field)
        owner = await self._owner(kind, name) if isinstance(name, str) else None
        down = self._down_owner(name) if owner is None and isinstance(name, str) else None
        if down is not None:
            await send(error_event(scope, down.code, str(down), fault="upstream"))
            return
        if owner is None:
            noun = kind.result_key[:-1]
            await send(
                error_event(
                    scope,
                    INVALID_PARAMS,
                    f"unknown {noun} {name!r}; list them with {kind.list_method}",
                    fault="client",
                )
            )
            return
        if kind is TOOLS and isinstance(name, str) and is_modern(scope["protocol_version"]):
            problem = self._param_header_problem(scope, name)
            if problem is not None:
                await send(error_event(scope, HEADER_MISMATCH, f"Header mismatch: {problem}", fault="client"))
                return
        await self._forward(
            scope, receive, send, owner.server, {**params, field: owner.name}, target_name=owner.name
        )

    def _param_header_problem(self, scope: Scope, name: str) -> str | None:
        """Why the call's ``Mcp-Param-*`` headers disagree with its arguments, if they do."""
        tool = self._catalogs[TOOLS].item(name)
        schema = tool.get("inputSchema") if tool else None
        if not annotated(schema):
            return None
        raw_headers = scope["http"].get("headers", ())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1").strip(" \t") for k, v in raw_headers}
        try:
            check_param_headers(headers, schema, scope["params"].get("arguments"))
        except HeaderMismatch as exc:
            return str(exc)
        return None

    async def _call_resource(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = await self._resource_or_refuse(scope, send)
        if found is not None:
            uri, owner = found
            await self._forward(scope, receive, send, owner.server, scope["params"], target_name=uri)

    async def _resource_or_refuse(self, scope: Scope, send: Send) -> tuple[str, Owner] | None:
        """The URI of the request and its owner, or None after telling the client there is none."""
        uri = scope["params"].get("uri")
        owner = await self._resource_owner(uri) if isinstance(uri, str) else None
        if owner is None or not isinstance(uri, str):
            await send(
                error_event(
                    scope,
                    RESOURCE_NOT_FOUND,
                    f"resource {uri!r} is not offered by any server of this endpoint",
                    fault="client",
                    data={"uri": uri},
                )
            )
            return None
        return uri, owner

    async def _resource_owner(self, uri: str) -> Owner | None:
        resources, templates = self._catalogs[RESOURCES], self._catalogs[TEMPLATES]
        owner = resources.owner(uri) or templates.match_template(uri)
        if owner is None:
            await asyncio.gather(self._refresh(RESOURCES), self._refresh(TEMPLATES))
            owner = resources.owner(uri) or templates.match_template(uri)
        return owner

    async def _complete(self, scope: Scope, receive: Receive, send: Send) -> None:
        params: dict[str, Any] = scope["params"]
        ref = params.get("ref")
        owner: Owner | None = None
        if isinstance(ref, dict):
            if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
                owner = await self._owner(PROMPTS, ref["name"])
                ref = {**ref, "name": owner.name} if owner else ref
            elif ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
                owner = await self._owner(TEMPLATES, ref["uri"]) or await self._resource_owner(ref["uri"])
        if owner is None:
            await send(
                error_event(
                    scope,
                    INVALID_PARAMS,
                    f"completion reference {ref!r} names no prompt or resource template here",
                    fault="client",
                )
            )
            return
        await self._forward(scope, receive, send, owner.server, {**params, "ref": ref})

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        server: str,
        params: dict[str, Any],
        *,
        target_name: str | None = None,
    ) -> None:
        state: dict[str, Any] = scope["state"]
        state["target_server"] = server
        if target_name is not None:
            state["target_name"] = target_name
        await self._follow_log_level(scope, server)
        response = await self._exchange(scope, receive, send, server, params)
        if response is None:
            return
        if scope["method"] == "tools/call" and "task" in params:
            response = self._adopt_task(scope, server, response)
        elif scope["method"] == "resources/read" and is_modern(scope["protocol_version"]):
            self._hints.on_read(server, response, scope)
        await send(response_event(response))

    async def _exchange(
        self, scope: Scope, receive: Receive, send: Send, server: str, params: dict[str, Any]
    ) -> Message | None:
        """One upstream request for this call; its response with the client's id, or None
        when the upstream could not answer (the client has had the error)."""
        channel = ClientChannel(scope, receive, send)
        try:
            connection = await self._supervisors[server].connection(_calling_session.get())
            response: Message = await connection.request(scope["method"], params, channel=channel)
        except UpstreamError as exc:
            await send(error_event(scope, exc.code, str(exc), fault="upstream"))
            return None
        finally:
            await channel.close()
        response["id"] = scope["id"]
        return response

    async def _follow_log_level(self, scope: Scope, server: str) -> None:
        """A 2026-07-28 client asks for logs per request: a legacy upstream learns it the only
        way it can, as the level of the principal's stand-in session (the most verbose wins)."""
        level = scope.get("log_level")
        holder = calling_session(scope)
        if level not in LOG_LEVELS or holder is None or self._interest.level_of(holder) == level:
            return
        self._interest.set_log_level(holder, level)
        await apply_log_level(self._supervisors[server], self._interest)

    def _adopt_task(self, scope: Scope, server: str, response: Message) -> Message:
        task = (response.get("result") or {}).get("task")
        if not isinstance(task, dict) or "taskId" not in task:
            return response
        principal: Principal = scope["principal"]
        gateway_id = self._tasks.adopt(server, task, principal.name, scope["session_id"])
        mapped: Message = rewrite_task_ids(response, {str(task["taskId"]): gateway_id})
        return mapped

    async def _task_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        """tasks/get, tasks/result, tasks/cancel: to the owning server, for the owner only."""
        params: dict[str, Any] = scope["params"]
        principal: Principal = scope["principal"]
        entry = self._tasks.resolve(params.get("taskId"), principal.name)
        if entry is None or entry.server not in self._servers:
            await send(
                error_event(scope, INVALID_PARAMS, f"unknown task {params.get('taskId')!r}", fault="client")
            )
            return
        scope["state"]["target_server"] = entry.server
        upstream_params = {**params, "taskId": entry.upstream_id}
        response = await self._exchange(scope, receive, send, entry.server, upstream_params)
        if response is not None:
            await send(response_event(rewrite_task_ids(response, {entry.upstream_id: params["taskId"]})))

    async def _list_tasks(self, scope: Scope, send: Send) -> None:
        """The caller's own tasks, from every server that lists them."""
        principal: Principal = scope["principal"]
        owned: dict[str, dict[str, str]] = {}
        for gateway_id, entry in self._tasks.owned_by(principal.name):
            if entry.server in self._servers:
                owned.setdefault(entry.server, {})[entry.upstream_id] = gateway_id
        tasks: list[dict[str, Any]] = []
        for server, mapping in owned.items():
            supervisor = self._supervisors[server]
            identity = supervisor.identity
            if identity is None or "list" not in (identity.capabilities.get("tasks") or {}):
                continue
            try:
                connection = await supervisor.connection(_calling_session.get())
                params: dict[str, Any] = {}
                for _ in range(MAX_UPSTREAM_PAGES):
                    result = (await connection.request("tasks/list", params or None)).get("result") or {}
                    for task in result.get("tasks") or ():
                        if isinstance(task, dict) and str(task.get("taskId")) in mapping:
                            tasks.append(rewrite_task_ids(task, mapping))
                    if not result.get("nextCursor"):
                        break
                    params = {"cursor": result["nextCursor"]}
            except UpstreamError as exc:
                log.warning("%s; its tasks are left out of tasks/list", exc)
        await send(response_event(result_message(scope["id"], {"tasks": tasks})))


async def apply_log_level(supervisor: Supervisor, interest: Interest) -> None:
    """Tell a running upstream that logs the level its sessions want: the calling
    session's own for a per-client server, the most verbose of all for a shared one."""
    session_id = _calling_session.get()
    if supervisor.spec.per_client:
        level = interest.level_of(session_id) if session_id else None
    else:
        level = interest.upstream_log_level()
    identity = supervisor.identity
    # A modern upstream takes the level in each request's _meta (its connection keeps it).
    if level is None or identity is None:
        return
    if "logging" not in identity.capabilities and not is_modern(identity.protocol_version):
        return
    try:
        connection = await supervisor.connection(session_id)
        await connection.request("logging/setLevel", {"level": level})
    except UpstreamError as exc:
        log.warning("%s; its log level stays as it was", exc)


async def restore_interest(supervisor: Supervisor, interest: Interest) -> None:
    """After a restart the shared upstream forgot everything: set the level and resubscribe."""
    if supervisor.spec.per_client:
        return
    await apply_log_level(supervisor, interest)
    for uri in interest.subscriptions_of(supervisor.name):
        try:
            connection = await supervisor.connection()
            await connection.request("resources/subscribe", {"uri": uri})
        except UpstreamError as exc:
            log.warning("%s; could not resubscribe to %s", exc, uri)


def _session_of(scope: Scope) -> str:
    """The gateway session a per-session method needs (the front serves those only in one)."""
    session = scope["session_id"]
    if session is None:
        raise InvalidRequest(f"{scope['method']} needs a session: send initialize first")
    return session
