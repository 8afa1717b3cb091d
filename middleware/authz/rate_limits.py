"""The rate-limit middleware: token buckets and concurrency caps per principal, project, server
and tool, counted in a :class:`~middleware.authz.limit_store.LimitStore`.

A refused call is answered here with a JSON-RPC error naming the rule (:class:`RateLimited`),
and the call goes no further. Notifications are never limited: nobody could be told. A call
that holds a concurrency slot gives it back before its response goes out (so a client that has
its answer may call again at once), or when it ends without one: error, cancellation, or its
client gone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from middleware.authz.limit_rules import Limit
from middleware.authz.limit_store import LimitStore, Refusal, Slots
from middleware.protocol import (
    RATE_LIMITED,
    RESPONSE,
    Event,
    MCPApp,
    PolicyError,
    Receive,
    Scope,
    Send,
    response_event,
)
from middleware.protocol.audit import AUDIT_LOGGER, AUDIT_TEMPLATE, audit_record, traced_decision

Resolve = Callable[[Scope, str, str], Awaitable[tuple[str, str] | None]]
"""``(scope, list method, name as the client sent it)`` → (server, name on that server), or
None when no server owns it: what the aggregate endpoint's prefixed names stand for."""

TARGET_PARAM: Final = {
    "tools/call": ("tools/list", "name"),
    "prompts/get": ("prompts/list", "name"),
    "resources/read": ("resources/list", "uri"),
}
"""The methods that target one named thing: the list that names it, and the param."""

_NO_TARGET: Final[tuple[str | None, str | None]] = (None, None)
_METHOD_CACHE: Final = 256
"""Methods whose rules are remembered (clients may send any method name)."""


class RateLimited(PolicyError):
    """A rate limit refused the call: nothing is broken, the caller must slow down. A policy
    refusal (``fault: "policy"``): the request itself is valid and would go through later."""

    code = RATE_LIMITED
    http_status = 429

    def __init__(self, refusal: Refusal) -> None:
        seconds = max(1, math.ceil(refusal.wait))
        limit = refusal.limit
        if refusal.concurrent:
            why = f"concurrency limit {limit.name!r} reached ({limit.max_concurrent} calls at once)"
        else:
            why = f"rate limit {limit.name!r} exceeded"
        super().__init__(
            f"{why}; retry in {seconds} s",
            data={"limit": limit.name, "retryAfter": seconds},
            headers=[(b"retry-after", str(seconds).encode())],
        )
        self.retry_after = seconds


_audit_log = logging.getLogger(AUDIT_LOGGER)


def _audit(scope: Scope, refusal: Refusal, target: tuple[str | None, str | None]) -> None:
    """The audit record of a refusal: which limit, never what the call carried."""
    kind = "concurrency limit" if refusal.concurrent else "rate limit"
    server, name = target
    record = audit_record(
        scope, "rate_limited", by=refusal.limit.name, reason=f"{kind} reached", server=server, target=name
    )
    _audit_log.warning(AUDIT_TEMPLATE, record)
    traced_decision("rate limit", record)


class RateLimits:
    """Admit or refuse each request by the configured rules, before anything else runs."""

    def __init__(
        self, app: MCPApp, *, limits: Sequence[Limit], store: LimitStore, resolve: Resolve | None = None
    ) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.store = store
        self.resolve = resolve
        self._by_method: dict[str, tuple[tuple[Limit, ...], bool]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            await self.app(scope, receive, send)
            return
        plan = self._by_method.get(scope["method"]) or self._plan(scope["method"])
        limits, needs_target = plan
        if not limits:
            await self.app(scope, receive, send)
            return
        target = await self._target(scope) if needs_target else _NO_TARGET
        wanted = self._wanted(scope, limits, target)
        if not wanted:
            await self.app(scope, receive, send)
            return
        outcome = await self.store.acquire(wanted)
        if outcome is None:
            await self.app(scope, receive, send)
        elif isinstance(outcome, Refusal):
            _audit(scope, outcome, target)
            await send(response_event(RateLimited(outcome).to_message(scope["id"])))
        else:
            await self._holding(outcome, scope, receive, send)

    def _plan(self, method: str) -> tuple[tuple[Limit, ...], bool]:
        """The rules counting ``method``, and whether any needs to know the target."""
        limits = tuple(limit for limit in self.limits if limit.counts_method(method))
        plan = (limits, any(limit.needs_target for limit in limits))
        if len(self._by_method) < _METHOD_CACHE:
            self._by_method[method] = plan
        return plan

    @staticmethod
    def _wanted(
        scope: Scope, limits: tuple[Limit, ...], target: tuple[str | None, str | None]
    ) -> list[tuple[Limit, str]]:
        """The rules that apply to this call, each with the key it counts under."""
        principal = scope["principal"]
        server, name = target
        wanted: list[tuple[Limit, str]] = []
        for limit in limits:
            if limit.admits(principal):
                key = limit.key(principal, server, name)
                if key is not None:
                    wanted.append((limit, key))
        return wanted

    async def _target(self, scope: Scope) -> tuple[str | None, str | None]:
        """(server, name on that server) of what the call targets, as far as known."""
        spec = TARGET_PARAM.get(scope["method"])
        raw = scope["params"].get(spec[1]) if spec is not None else None
        name = raw if isinstance(raw, str) else None
        server = scope["server"]
        if spec is None or name is None or server is not None or self.resolve is None:
            return server, name
        found = await self.resolve(scope, spec[0], name)
        return (None, name) if found is None else found

    async def _holding(self, slots: Slots, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the call holding its slots; they go back exactly once, whatever happens."""
        released = False

        async def release_then_send(event: Event) -> None:
            nonlocal released
            if event["type"] == RESPONSE and not released:
                released = True
                await self.store.release(slots)
            await send(event)

        try:
            await self.app(scope, receive, release_then_send)
        finally:
            if not released:
                released = True
                await self.store.release(slots)
