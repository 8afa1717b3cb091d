"""The router: the innermost app of the MCP tier.

It forwards envelopes rather than re-implementing MCP methods: it only understands the params
that carry a name (tool, prompt, resource URI, completion reference), translates them, and
passes everything else through untouched. Lists are fanned out to every server of the
endpoint and merged in configuration order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from middleware.protocol import (
    TARGET_NAME,
    TARGET_SERVER,
    GatewayError,
    InvalidParams,
    InvalidRequest,
    Message,
    MethodNotFound,
    Principal,
    Receive,
    Scope,
    Send,
    blame_relayed,
    is_modern,
    response_event,
    result_message,
)
from middleware.protocol.errors import HeaderMismatchError
from middleware.protocol.headers import HeaderMismatch
from middleware.protocol.param_headers import annotated, check_param_headers
from upstream.errors import UpstreamError
from upstream.pool.supervisor import Supervisor
from upstream.routing.catalog import (
    KIND_BY_LIST_METHOD,
    KINDS,
    PROMPTS,
    TEMPLATES,
    TOOLS,
    CollisionError,
    Kind,
    Namespace,
    Owner,
    ResourceNotFound,
)
from upstream.routing.freshness import ListTTL
from upstream.routing.interest import LOG_LEVELS, Interest
from upstream.routing.lists import Lists
from upstream.routing.log_levels import apply_log_level
from upstream.routing.pages import SnapshotLimits
from upstream.routing.readiness import Readiness
from upstream.routing.tasks import TaskMap, list_upstream_tasks, rewrite_task_ids
from upstream.session.channel import ClientChannel

log = logging.getLogger("portcullis.router")

Handler = Callable[["Router", Scope, Receive, Send, "str | None"], Awaitable[None]]
"""One method's handler; the last argument is the caller's session for per-client servers."""


def calling_session(scope: Scope) -> str | None:
    """Whose upstream session a per-client server uses for this call: the gateway session, or
    for a 2026-07-28 client (which has none) one per principal."""
    session: str | None = scope["session_id"]
    if session is None and is_modern(scope["protocol_version"]):
        principal: Principal = scope["principal"]
        return f"principal:{principal.name}"
    return session


class Router:
    """Routes the messages of one endpoint that go upstream: all servers (prefixed) or one
    (pinned, unprefixed). The gateway's own answers (initialize, ping...) are the front's."""

    def __init__(
        self,
        supervisors: Mapping[str, Supervisor],
        namespace: Namespace,
        *,
        interest: Interest,
        tasks: TaskMap,
        pinned: str | None = None,
        page_size: int = 100,
        snapshots: SnapshotLimits | None = None,
        readiness: Readiness | None = None,
        list_ttl: ListTTL | None = None,
    ) -> None:
        self.supervisors = supervisors
        self._interest = interest
        self._tasks = tasks
        self.servers: Sequence[str] = [pinned] if pinned is not None else list(supervisors)
        self.pinned = pinned
        self._lists = Lists(
            supervisors,
            namespace,
            self.servers,
            page_size=page_size,
            snapshots=snapshots,
            readiness=readiness if pinned is None else None,
            list_ttl=list_ttl,
        )
        self.lists = self._lists
        self._catalogs = self._lists.catalogs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            return  # client notifications end here; cancellation is handled by the endpoint
        handler = HANDLERS.get(scope["method"], Router._passthrough)
        try:
            await handler(self, scope, receive, send, calling_session(scope))
        except GatewayError as exc:  # below the middlewares, every refusal or failure is an answer
            await send(response_event(exc.to_message(scope["id"])))

    async def owner_of(
        self, scope: Scope, list_method: str, key: str
    ) -> tuple[Owner, dict[str, Any] | None] | None:
        """Who owns ``key`` in the list ``list_method`` names, and its exposed definition: for a
        policy that runs before the call (the catalog is refreshed once on a miss, as the call
        itself would; the call then finds it without asking again)."""
        kind = KIND_BY_LIST_METHOD.get(list_method)
        if kind is None:
            return None
        catalog = self._catalogs[kind]
        owner = catalog.owner(key)
        if owner is None:
            try:
                owner = await self._lists.owner(kind, key, calling_session(scope))
            except GatewayError:
                return None  # refused (a collision): the call itself will say so
        return None if owner is None else (owner, catalog.item(key))

    def listed_owner(self, list_method: str, key: str) -> Owner | None:
        """Who owns ``key`` in the catalog ``list_method`` answered from (no I/O: for filters)."""
        kind = KIND_BY_LIST_METHOD.get(list_method)
        return self._catalogs[kind].owner(key) if kind is not None else None

    async def resource_owner(self, scope: Scope, uri: str) -> Owner | None:
        """Where a read of ``uri`` would go; None when nowhere, or when it would be refused."""
        with contextlib.suppress(GatewayError):
            return await self._lists.resource_owner(uri, calling_session(scope))
        return None

    async def prime(self) -> None:
        """List everything of the running servers once, refusing to start on a collision."""
        problems = await self._lists.prime()
        if problems:
            raise CollisionError("; ".join(problems))

    async def _passthrough(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        """A method the router does not know: a pinned endpoint forwards it as it is."""
        if self.pinned is not None:
            await self._forward(scope, receive, send, self.pinned, scope["params"], session=session)
            return
        raise MethodNotFound(f"method {scope['method']!r} is not supported by the aggregate endpoint")

    async def _list(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        kind = KIND_BY_LIST_METHOD[scope["method"]]
        result = await self._lists.answer(scope, kind, session)
        await send(response_event(result_message(scope["id"], result)))

    async def _set_log_level(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        level = scope["params"].get("level")
        if level not in LOG_LEVELS:
            raise InvalidParams(f"level must be one of {', '.join(LOG_LEVELS)}")
        self._interest.set_log_level(_session_of(scope), level)
        supervisors = [self.supervisors[s] for s in self.servers]
        await asyncio.gather(*(apply_log_level(s, self._interest, session) for s in supervisors))
        await send(response_event(result_message(scope["id"], {})))

    async def _subscribe(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        await self._subscription(scope, send, session, subscribe=True)

    async def _unsubscribe(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        await self._subscription(scope, send, session, subscribe=False)

    async def _subscription(self, scope: Scope, send: Send, caller: str | None, *, subscribe: bool) -> None:
        """One upstream subscription per (server, URI), however many sessions hold it."""
        uri, owner = await self._resource_or_refuse(scope, caller)
        server, session = owner.server, _session_of(scope)
        scope["state"][TARGET_SERVER] = server
        scope["state"][TARGET_NAME] = uri
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
                    connection = await self.supervisors[server].connection(caller)
                    identity = connection.identity
                    if subscribe and not (
                        identity and (identity.capabilities.get("resources") or {}).get("subscribe")
                    ):
                        interest.unsubscribe(session, server, uri)
                        raise MethodNotFound(f"server {server!r} does not support resource subscriptions")
                    response = await connection.request(scope["method"], {"uri": uri})
                except UpstreamError:
                    if subscribe:
                        interest.unsubscribe(session, server, uri)
                    raise
                if "error" in response:
                    if subscribe:
                        interest.unsubscribe(session, server, uri)
                    await send(response_event(_relayed(response, scope)))
                    return
        await send(response_event(result_message(scope["id"], {})))

    async def _call_tool(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        await self._call_named(scope, receive, send, session, TOOLS)

    async def _get_prompt(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        await self._call_named(scope, receive, send, session, PROMPTS)

    async def _call_named(
        self, scope: Scope, receive: Receive, send: Send, session: str | None, kind: Kind
    ) -> None:
        params: dict[str, Any] = scope["params"]
        name = params.get("name")
        owner = await self._lists.owner(kind, name, session) if isinstance(name, str) else None
        if owner is None:
            down = self._lists.down_owner(name, self.pinned is not None) if isinstance(name, str) else None
            if down is not None:
                raise down
            noun = kind.result_key[:-1]
            raise InvalidParams(f"unknown {noun} {name!r}; list them with {kind.list_method}")
        if kind is TOOLS and is_modern(scope["protocol_version"]):
            self._check_param_headers(scope, owner_key=str(name))
        upstream_params = {**params, "name": owner.name}
        await self._forward(
            scope, receive, send, owner.server, upstream_params, session=session, target_name=owner.name
        )

    def _check_param_headers(self, scope: Scope, *, owner_key: str) -> None:
        """Refuse a call whose ``Mcp-Param-*`` headers disagree with its arguments."""
        tool = self._catalogs[TOOLS].item(owner_key)
        schema = tool.get("inputSchema") if tool else None
        if not annotated(schema):
            return
        raw_headers = scope["http"].get("headers", ())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1").strip(" \t") for k, v in raw_headers}
        try:
            check_param_headers(headers, schema, scope["params"].get("arguments"))
        except HeaderMismatch as exc:
            raise HeaderMismatchError(f"Header mismatch: {exc}") from None

    async def _read_resource(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        uri, owner = await self._resource_or_refuse(scope, session)
        await self._forward(
            scope, receive, send, owner.server, scope["params"], session=session, target_name=uri
        )

    async def _resource_or_refuse(self, scope: Scope, session: str | None) -> tuple[str, Owner]:
        """The URI of the request and its owner; raises when no server offers it."""
        uri = scope["params"].get("uri")
        owner = await self._lists.resource_owner(uri, session) if isinstance(uri, str) else None
        if owner is None or not isinstance(uri, str):
            raise ResourceNotFound(f"resource {uri!r} is not offered by any server of this endpoint", uri)
        return uri, owner

    async def _complete(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        params: dict[str, Any] = scope["params"]
        ref = params.get("ref")
        owner: Owner | None = None
        lists = self._lists
        if isinstance(ref, dict):
            if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
                owner = await lists.owner(PROMPTS, ref["name"], session)
                ref = {**ref, "name": owner.name} if owner else ref
            elif ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
                owner = await lists.owner(TEMPLATES, ref["uri"], session) or await lists.resource_owner(
                    ref["uri"], session
                )
        if owner is None:
            raise InvalidParams(f"completion reference {ref!r} names no prompt or resource template here")
        await self._forward(scope, receive, send, owner.server, {**params, "ref": ref}, session=session)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        server: str,
        params: dict[str, Any],
        *,
        session: str | None,
        target_name: str | None = None,
    ) -> None:
        state: dict[str, Any] = scope["state"]
        state[TARGET_SERVER] = server
        if target_name is not None:
            state[TARGET_NAME] = target_name
        await self._follow_log_level(scope, session, server)
        response = await self._exchange(scope, receive, send, server, params, session=session)
        if scope["method"] == "tools/call" and "task" in params:
            response = self._adopt_task(scope, server, response)
        elif scope["method"] == "resources/read" and is_modern(scope["protocol_version"]):
            self._lists.hints.on_read(server, response, scope)
        await send(response_event(response))

    async def _exchange(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        server: str,
        params: dict[str, Any],
        *,
        session: str | None,
    ) -> Message:
        """One upstream request for this call: its response with the client's id (an
        :class:`UpstreamError` when the upstream could not answer)."""
        channel = ClientChannel(scope, receive, send)
        try:
            connection = await self.supervisors[server].connection(session)
            response: Message = await connection.request(scope["method"], params, channel=channel)
        finally:
            await channel.close()
        return _relayed(response, scope)

    async def _follow_log_level(self, scope: Scope, session: str | None, server: str) -> None:
        """A 2026-07-28 client asks for logs per request: a legacy upstream learns it the only
        way it can, as the level of the principal's stand-in session (the most verbose wins)."""
        level = scope.get("log_level")
        if level not in LOG_LEVELS or session is None or self._interest.level_of(session) == level:
            return
        self._interest.set_log_level(session, level)
        await apply_log_level(self.supervisors[server], self._interest, session)

    def _adopt_task(self, scope: Scope, server: str, response: Message) -> Message:
        task = (response.get("result") or {}).get("task")
        if not isinstance(task, dict) or "taskId" not in task:
            return response
        principal: Principal = scope["principal"]
        gateway_id = self._tasks.adopt(server, task, principal.name, scope["session_id"])
        mapped: Message = rewrite_task_ids(response, {str(task["taskId"]): gateway_id})
        return mapped

    async def _task_call(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        """tasks/get, tasks/result, tasks/cancel: to the owning server, for the owner only."""
        params: dict[str, Any] = scope["params"]
        principal: Principal = scope["principal"]
        entry = self._tasks.resolve(params.get("taskId"), principal.name)
        if entry is None or entry.server not in self.servers:
            raise InvalidParams(f"unknown task {params.get('taskId')!r}")
        scope["state"][TARGET_SERVER] = entry.server
        upstream_params = {**params, "taskId": entry.upstream_id}
        response = await self._exchange(scope, receive, send, entry.server, upstream_params, session=session)
        await send(response_event(rewrite_task_ids(response, {entry.upstream_id: params["taskId"]})))

    async def _list_tasks(self, scope: Scope, receive: Receive, send: Send, session: str | None) -> None:
        """The caller's own tasks, from every server that lists them."""
        principal: Principal = scope["principal"]
        owned: dict[str, dict[str, str]] = {}
        for gateway_id, entry in self._tasks.owned_by(principal.name):
            if entry.server in self.servers:
                owned.setdefault(entry.server, {})[entry.upstream_id] = gateway_id
        tasks: list[dict[str, Any]] = []
        for server, mapping in owned.items():
            tasks += await list_upstream_tasks(self.supervisors[server], session, mapping)
        await send(response_event(result_message(scope["id"], {"tasks": tasks})))


HANDLERS: Final[dict[str, Handler]] = {
    **{kind.list_method: Router._list for kind in KINDS},
    "tools/call": Router._call_tool,
    "prompts/get": Router._get_prompt,
    "resources/read": Router._read_resource,
    "resources/subscribe": Router._subscribe,
    "resources/unsubscribe": Router._unsubscribe,
    "logging/setLevel": Router._set_log_level,
    "tasks/get": Router._task_call,
    "tasks/result": Router._task_call,
    "tasks/cancel": Router._task_call,
    "tasks/list": Router._list_tasks,
    "completion/complete": Router._complete,
}
"""What the router does with each method it knows; any other goes to a pinned server as it is."""


def _session_of(scope: Scope) -> str:
    """The gateway session a per-session method needs (the front serves those only in one)."""
    session = scope["session_id"]
    if session is None:
        raise InvalidRequest(f"{scope['method']} needs a session: send initialize first")
    return session


def _relayed(response: Message, scope: Scope) -> Message:
    """An upstream's answer on its way to the client: under the client's id, and an error
    saying whose fault it is (:func:`blame_relayed`). Every answer the router relays passes here."""
    response["id"] = scope["id"]
    return blame_relayed(response) if "error" in response else response
