"""The gateway's own answers: ``initialize``, ``server/discover`` and ``ping``.

They say what the gateway is, not what an upstream said, so they belong to the front rather than
the router. They sit innermost in the MCP tier, just around the router, so every middleware
still sees them (the access log records initialize, a policy may refuse ping).

The first ``initialize`` or ``server/discover`` starts lazily started servers in the background
and waits for them only within the routing patience: the instructions of the servers ready by
then are included, and a server that starts later is simply not described to that client (it
still gets ``list_changed`` when its names arrive).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from middleware.protocol import (
    LEGACY_VERSIONS,
    META_SERVER_INFO,
    MODERN_VERSIONS,
    SERVER_VISIBLE,
    Receive,
    Scope,
    Send,
    response_event,
    result_message,
)
from upstream.routing.cache_hints import DISCOVER_TTL_MS
from upstream.routing.readiness import Readiness
from upstream.routing.router import Router

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


class OwnAnswers:
    """Answer the gateway's own methods; pass everything else to the router."""

    def __init__(
        self,
        router: Router,
        *,
        server_info: dict[str, Any],
        readiness: Readiness | None,
        screen: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.app = router
        self._router = router
        self._screen = screen
        """``(server, instructions) -> keep?``: the poisoning guardrail's judgement, when it runs."""
        self._server_info = server_info
        self._readiness = readiness
        self._own: dict[str, Callable[[Scope], Awaitable[dict[str, Any]]]] = {
            "initialize": self._initialize,
            "server/discover": self._discover,
            "ping": self._ping,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._own.get(scope["method"]) if scope["id"] is not None else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        await send(response_event(result_message(scope["id"], await answer(scope))))

    async def _initialize(self, scope: Scope) -> dict[str, Any]:
        result: dict[str, Any] = {
            "protocolVersion": scope["protocol_version"],
            "capabilities": GATEWAY_CAPABILITIES,
            "serverInfo": self._server_info,
        }
        instructions = await self._instructions(scope)
        if instructions:
            result["instructions"] = instructions
        return result

    async def _discover(self, scope: Scope) -> dict[str, Any]:
        """What a modern client learns up front: every version we speak, and what we offer."""
        result: dict[str, Any] = {
            "supportedVersions": [*MODERN_VERSIONS, *LEGACY_VERSIONS],
            "capabilities": MODERN_CAPABILITIES,
            "_meta": {META_SERVER_INFO: self._server_info},
            "ttlMs": DISCOVER_TTL_MS,
            # Public unless a policy makes whose instructions are shown depend on the caller.
            "cacheScope": "private" if SERVER_VISIBLE in scope["state"] else "public",
        }
        instructions = await self._instructions(scope)
        if instructions:
            result["instructions"] = instructions
        return result

    async def _ping(self, scope: Scope) -> dict[str, Any]:
        return {}

    async def _instructions(self, scope: Scope) -> str:
        """The instructions of the endpoint's servers that are ready within the patience, of
        those the caller may see (:data:`SERVER_VISIBLE`, from the policy layer)."""
        router = self._router
        visible: Callable[[str], bool] = scope["state"].get(SERVER_VISIBLE) or (lambda server: True)
        if self._readiness is not None:
            await self._readiness.ready(router.servers)
        notes = []
        for server in router.servers:
            identity = router.supervisors[server].identity
            if identity is None or not identity.instructions or not visible(server):
                continue
            if self._screen is None or self._screen(server, identity.instructions):
                notes.append(
                    identity.instructions if router.pinned else f"[{server}] {identity.instructions}"
                )
        return "\n\n".join(notes)
