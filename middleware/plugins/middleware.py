"""The plugin hooks on the MCP tier, for clients of both protocol eras.

``tools/call`` runs ``tool_pre_invoke`` before the call and ``tool_post_invoke`` on its result;
``prompts/get`` the prompt hooks; ``resources/read`` the resource hooks; each list method its
``*_post_list`` hook on the definitions it answers with. A tool that a ``tools_post_list``
plugin hides is also refused when called: the call first asks the same plugins about that one
definition.

A blocked tool call is a tool result with ``isError: true`` whose text gives the violation's code,
reason and plugin (what a model can read); a blocked prompt, resource or list is a JSON-RPC error
with fault ``policy`` (the violation's ``mcp_error_code`` if it sets one). The violation's
description and details go to the log, not to the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pydantic import BaseModel

from middleware.plugins.conditions import Target
from middleware.plugins.contexts import Contexts
from middleware.plugins.executor import Outcome, PluginExecutor, audit_decision
from middleware.plugins.models import (
    HookType,
    ListPayload,
    PluginViolation,
    PromptPosthookPayload,
    PromptPrehookPayload,
    ResourcePostFetchPayload,
    ResourcePreFetchPayload,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
    built,
)
from middleware.plugins.runs import GUARDRAIL, named, timed_run
from middleware.plugins.server_requests import ALL_HOOKS as SERVER_REQUEST_HOOKS
from middleware.plugins.server_requests import ServerRequestHooks
from middleware.protocol import (
    RESPONSE,
    Event,
    MCPApp,
    PolicyError,
    Receive,
    Scope,
    Send,
    child_scope,
    response_event,
    result_message,
)
from middleware.protocol.operations import OPERATIONS, OperationStats


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a name leads: the upstream server, the name there, and its definition if listed."""

    server: str
    name: str
    definition: dict[str, Any] | None = None


class Resolver(Protocol):
    """Given by the composition root: ``(scope, kind, name as the client said it)`` → where it
    leads (it may list the upstreams once, as the call itself would)."""

    async def __call__(self, scope: Scope, kind: str, name: str) -> Resolved | None: ...


LISTS = {
    "tools/list": (HookType.TOOLS_POST_LIST.value, "tools"),
    "prompts/list": (HookType.PROMPTS_POST_LIST.value, "prompts"),
    "resources/list": (HookType.RESOURCES_POST_LIST.value, "resources"),
    "resources/templates/list": (HookType.RESOURCE_TEMPLATES_POST_LIST.value, "resourceTemplates"),
}

OWNED = {"tools/list": "tool", "prompts/list": "prompt", "resources/list": "resource"}
"""List methods whose items the router can name an owner for."""


class Plugins:
    """Run the configured plugins' hooks around the calls that have them."""

    stats: OperationStats = OPERATIONS
    """Where each hook run counts, as a ``guardrail`` operation."""

    def __init__(self, app: MCPApp, executor: PluginExecutor, resolve: Resolver | None = None) -> None:
        self.app = app
        self.executor = executor
        self.resolve = resolve
        self.stats.configure(GUARDRAIL, executor.settings.plugin_timeout)
        self._version = -1
        self._handlers: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {}
        self._lists_hide = False
        self._wants_owners = False
        self._asks_hooked = False
        self._index()

    def _index(self) -> None:
        """Which methods have hooks (again once external plugins learnt theirs at start)."""
        executor = self.executor
        handlers: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {}
        if any(executor.has(hook) for hook in ("tool_pre_invoke", "tool_post_invoke", "tools_post_list")):
            handlers["tools/call"] = self._tool
        if executor.has("prompt_pre_fetch") or executor.has("prompt_post_fetch"):
            handlers["prompts/get"] = self._prompt
        if executor.has("resource_pre_fetch") or executor.has("resource_post_fetch"):
            handlers["resources/read"] = self._resource
        for method, (hook, _) in LISTS.items():
            if executor.has(hook):
                handlers[method] = self._list
        self._handlers = handlers
        self._lists_hide = executor.has("tools_post_list")
        self._wants_owners = any(getattr(p.instance, "wants_owners", False) for p in executor.plugins)
        self._asks_hooked = any(executor.has(hook) for hook in SERVER_REQUEST_HOOKS)
        self._version = executor.version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._version != self.executor.version:
            self._index()
        handler = self._handlers.get(scope["method"]) if scope["id"] is not None else None
        asks = (
            ServerRequestHooks(self.executor, _caller(scope), send, receive)
            if (self._asks_hooked and scope["id"] is not None)
            else None
        )
        if handler is None and asks is None:
            await self.app(scope, receive, send)
            return
        try:  # the hooks on what the upstream asks the client, when some plugin has them
            inner_receive, inner_send = (asks.receive, asks.send) if asks is not None else (receive, send)
            await (handler or self.app)(scope, inner_receive, inner_send)
        except PluginRefusal as refusal:  # a pre hook blocked: the answer is the policy error
            await send(response_event(refusal.to_message(scope["id"])))
        finally:
            if asks is not None:
                asks.close()

    # --- per method ---------------------------------------------------------------------------

    async def _tool(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["params"]
        name = str(params.get("name", ""))
        target, resolved = await self._target(scope, "tool", name)
        if resolved is not None and resolved.definition is not None:
            target = replace(target, definition=resolved.definition)
        contexts = Contexts(target)
        hidden = await self._hidden_by_list(resolved, target, contexts) if self._lists_hide else None
        if hidden is not None:
            audit_decision(scope, "block", hidden.plugin_name or "-", f"[{hidden.code}] hidden", target)
            await send(response_event(result_message(scope["id"], _blocked_tool(hidden))))
            return
        arguments = params.get("arguments")
        pre = built(
            ToolPreInvokePayload,
            name=name,
            args=arguments if isinstance(arguments, dict) else {},
            headers=None,
        )
        outcome = await self._run(scope, "tool_pre_invoke", pre, target, contexts)
        if outcome.violation is not None:
            await send(response_event(result_message(scope["id"], _blocked_tool(outcome.violation))))
            return
        if outcome.modified:
            changed: ToolPreInvokePayload = outcome.payload
            scope = child_scope(
                scope, params={**params, "name": changed.name, "arguments": changed.args or {}}
            )

        async def post(result: dict[str, Any]) -> dict[str, Any] | None:
            payload = built(ToolPostInvokePayload, name=name, result=result)
            after = await self._run(scope, "tool_post_invoke", payload, target, contexts)
            if after.violation is not None:
                return _blocked_tool(after.violation)
            return _dumped(after.payload.result) if after.modified else None

        await self.app(scope, receive, self._after(scope, send, post, "tool_post_invoke"))

    async def _prompt(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["params"]
        name = str(params.get("name", ""))
        target, _ = await self._target(scope, "prompt", name)
        contexts = Contexts(target)
        arguments = params.get("arguments")
        args = {key: str(value) for key, value in arguments.items()} if isinstance(arguments, dict) else {}
        outcome = await self._run(
            scope, "prompt_pre_fetch", PromptPrehookPayload(prompt_id=name, args=args), target, contexts
        )
        _refuse_if_blocked(outcome, "prompts/get")
        if outcome.modified:
            changed: PromptPrehookPayload = outcome.payload
            scope = child_scope(
                scope, params={**params, "name": changed.prompt_id, "arguments": changed.args or {}}
            )

        async def post(result: dict[str, Any]) -> dict[str, Any] | None:
            after = await self._run(
                scope,
                "prompt_post_fetch",
                PromptPosthookPayload(prompt_id=name, result=result),
                target,
                contexts,
            )
            _refuse_if_blocked(after, "prompts/get")
            return _dumped(after.payload.result) if after.modified else None

        await self.app(scope, receive, self._after(scope, send, post, "prompt_post_fetch"))

    async def _resource(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["params"]
        uri = str(params.get("uri", ""))
        target, _ = await self._target(scope, "resource", uri)
        contexts = Contexts(target)
        outcome = await self._run(
            scope, "resource_pre_fetch", ResourcePreFetchPayload(uri=uri), target, contexts
        )
        _refuse_if_blocked(outcome, "resources/read")
        if outcome.modified:
            changed: ResourcePreFetchPayload = outcome.payload
            scope = child_scope(scope, params={**params, "uri": changed.uri})

        async def post(result: dict[str, Any]) -> dict[str, Any] | None:
            after = await self._run(
                scope,
                "resource_post_fetch",
                ResourcePostFetchPayload(uri=uri, content=result),
                target,
                contexts,
            )
            _refuse_if_blocked(after, "resources/read")
            return _dumped(after.payload.content) if after.modified else None

        await self.app(scope, receive, self._after(scope, send, post, "resource_post_fetch"))

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook, key = LISTS[scope["method"]]
        target = _caller(scope)
        contexts = Contexts(target)

        async def post(result: dict[str, Any]) -> dict[str, Any] | None:
            items = result.get(key)
            if not isinstance(items, list):
                return None
            owners = await self._owners(scope, items) if self._wants_owners else None
            payload = built(ListPayload, items=items, owners=owners, hidden={})
            after = await timed_run(self.executor, self.stats, (hook, payload, target, contexts))
            _refuse_if_blocked(after, scope["method"])
            return {**result, key: after.payload.items} if after.modified else None

        await self.app(scope, receive, self._after(scope, send, post, hook))

    # --- helpers ------------------------------------------------------------------------------

    async def _run(
        self, scope: Scope, hook: str, payload: Any, target: Target, contexts: Contexts
    ) -> Outcome:
        """Run ``hook``'s plugins, and put what they decided on the audit trail."""
        outcome = await timed_run(self.executor, self.stats, (hook, payload, target, contexts))
        for decision in outcome.decisions:
            verdict, reason = named(self.executor, contexts, decision)
            audit_decision(scope, verdict, decision[1], reason, target)
        return outcome

    def _after(
        self,
        scope: Scope,
        send: Send,
        post: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]],
        hook: str,
    ) -> Send:
        """``send`` with the post hook run on the result (only when some plugin has ``hook``)."""
        if not self.executor.has(hook):
            return send
        request_id = scope["id"]

        async def checked(event: Event) -> None:
            if event["type"] == RESPONSE and isinstance(event["message"].get("result"), dict):
                try:
                    replaced = await post(event["message"]["result"])
                except PolicyError as refusal:
                    event = response_event(refusal.to_message(request_id))
                else:
                    if replaced is not None:
                        event = response_event({**event["message"], "result": replaced})
            await send(event)

        return checked

    async def _target(self, scope: Scope, kind: str, name: str) -> tuple[Target, Resolved | None]:
        resolved = await self.resolve(scope, kind, name) if self.resolve is not None else None
        names = (name,) if resolved is None or resolved.name == name else (resolved.name, name)
        server = resolved.server if resolved is not None else scope["server"]
        principal = scope["principal"]
        content_type = _content_type(scope["http"]) if self.executor.reads_content_type else None
        target = Target(
            server=server,
            tenant=principal.project,
            user=principal.name,
            kind=kind,
            names=names,
            content_type=content_type,
        )
        return target, resolved

    async def _hidden_by_list(
        self, resolved: Resolved | None, target: Target, contexts: Contexts
    ) -> PluginViolation | None:
        """Would ``tools_post_list`` hide this tool? Then it may not be called either."""
        if resolved is None or resolved.definition is None or not self.executor.has("tools_post_list"):
            return None
        listed = Target(server=target.server, tenant=target.tenant, user=target.user)  # a list, not a tool
        payload = built(
            ListPayload,
            items=[resolved.definition],
            owners=[(resolved.server, resolved.name)],
            hidden={},
        )
        outcome = await timed_run(self.executor, self.stats, ("tools_post_list", payload, listed, contexts))
        if outcome.violation is not None:
            return outcome.violation
        name = resolved.definition.get("name")
        if outcome.modified and not any(item.get("name") == name for item in outcome.payload.items):
            why = outcome.payload.hidden.get(str(name))
            return PluginViolation(
                reason=why or "tool hidden by policy",
                description="a list plugin hides this tool",
                code="TOOL_QUARANTINED" if why else "TOOL_HIDDEN",
            )
        return None

    async def _owners(self, scope: Scope, items: list[dict[str, Any]]) -> list[tuple[str, str] | None]:
        """Item by item, the upstream server and its name there (for plugins that ask)."""
        pinned = scope["server"]
        kind = OWNED.get(scope["method"])
        owners: list[tuple[str, str] | None] = []
        for item in items:
            key = str(item.get("uri" if kind == "resource" else "name") or item.get("uriTemplate"))
            if pinned is not None:
                owners.append((pinned, key))
                continue
            found = await self.resolve(scope, kind, key) if self.resolve is not None and kind else None
            owners.append((found.server, found.name) if found is not None else None)
        return owners


def _caller(scope: Scope) -> Target:
    """Who calls, and the server when the endpoint is pinned to one: the target of a list or of
    a question an upstream asks (no tool, prompt or resource name)."""
    principal = scope["principal"]
    return Target(server=scope["server"], tenant=principal.project, user=principal.name)


def _content_type(http: Any) -> str | None:
    """The base type of the request's ``Content-Type``, for ``content_types`` conditions."""
    headers = http.get("headers") if isinstance(http, dict) else None
    for name, value in headers or ():
        if name == b"content-type":
            return bytes(value).decode("latin-1").split(";", 1)[0].strip().lower()
    return None


def _blocked_tool(violation: PluginViolation) -> dict[str, Any]:
    by = f"plugin {violation.plugin_name}" if violation.plugin_name else "policy"
    text = f"Blocked by {by}: {violation.code}: {violation.reason}"
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _refuse_if_blocked(outcome: Outcome, method: str) -> None:
    violation = outcome.violation
    if violation is None:
        return
    raise PluginRefusal(method, violation)


class PluginRefusal(PolicyError):
    """A plugin blocked a prompt, resource or list request: a policy error, with the plugin's
    own ``mcp_error_code`` when it gives one."""

    def __init__(self, method: str, violation: PluginViolation) -> None:
        plugin = violation.plugin_name or "unknown"
        super().__init__(
            f"{method} refused by plugin {plugin}: {violation.code}: {violation.reason}",
            code=violation.mcp_error_code,
            data={"plugin": plugin, "violation": violation.code},
        )


def _dumped(value: Any) -> dict[str, Any]:
    """A changed result as JSON: plugins may hand back models (cpex's or the SDK's) or dicts."""
    if isinstance(value, BaseModel):
        dumped: dict[str, Any] = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped
    if isinstance(value, dict):
        return value
    raise TypeError(f"a plugin changed the result into {type(value).__name__}")
