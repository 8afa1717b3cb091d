"""Hooks on what an upstream asks the client during a call: ``sampling/createMessage`` and
``elicitation/create`` (ours, beyond the spec, with the same payload/result shapes).

- ``sampling_pre_create`` / ``elicitation_pre_create`` see the request before it reaches the
  client (``method``, ``params``): a plugin may change the params, or block the question, and
  then the upstream gets a policy error as the client's answer and the client never sees it.
- ``sampling_post_create`` / ``elicitation_post_create`` see the client's answer (``method``,
  ``result``) before it goes back to the upstream: changed, or replaced by a policy error.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Final

from middleware.plugins.conditions import Target
from middleware.plugins.contexts import Contexts
from middleware.plugins.executor import PluginExecutor
from middleware.plugins.models import PluginViolation, ServerRequestPayload, ServerResponsePayload, built
from middleware.protocol import (
    CLIENT_RESPONSE,
    FORBIDDEN,
    SERVER_REQUEST,
    Event,
    Message,
    Receive,
    Send,
    error_message,
)

HOOKS: Final = {
    "sampling/createMessage": ("sampling_pre_create", "sampling_post_create"),
    "elicitation/create": ("elicitation_pre_create", "elicitation_post_create"),
}
ALL_HOOKS: Final = frozenset(hook for pair in HOOKS.values() for hook in pair)


class ServerRequestHooks:
    """One call's ``send`` and ``receive``, with the hooks on its server-to-client requests."""

    def __init__(self, executor: PluginExecutor, target: Target, send: Send, receive: Receive):
        self._executor = executor
        self._target = target
        self._contexts = Contexts(target)
        self._send = send
        self._receive = receive
        self._asked: dict[Any, str] = {}
        self._injected: collections.deque[Event] = collections.deque()
        self._wake: asyncio.Future[None] | None = None
        self._pending: asyncio.Future[Event] | None = None
        self._reading = False

    async def send(self, event: Event) -> None:
        if event["type"] == SERVER_REQUEST:
            message = event["message"]
            hooks = HOOKS.get(message.get("method", ""))
            if hooks is not None:
                replaced = await self._before(hooks[0], message)
                if replaced is None:
                    return  # blocked: the upstream has its answer already
                event = {**event, "message": replaced}
                self._asked[message.get("id")] = hooks[1]
        await self._send(event)

    async def receive(self) -> Event:
        if self._injected:
            return self._injected.popleft()
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._receive())
        wake: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._wake = wake
        pending: asyncio.Future[Any] = self._pending
        self._reading = True
        try:
            await asyncio.wait({pending, wake}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the reader stopped: nobody will take what comes next
            pending.cancel()
            self._pending = None
            raise
        finally:
            self._reading = False
        if not self._pending.done():
            return self._injected.popleft()
        event = self._pending.result()
        self._pending = None
        if event["type"] == CLIENT_RESPONSE:
            hook = self._asked.pop(event["message"].get("id"), None)
            if hook is not None:
                return {**event, "message": await self._after(hook, event["message"])}
        return event

    async def _before(self, hook: str, message: Message) -> Message | None:
        if not self._executor.has(hook):
            return message
        payload = built(ServerRequestPayload, method=message["method"], params=message.get("params") or {})
        outcome = await self._executor.run(hook, payload, self._target, self._contexts)
        if outcome.violation is not None:
            self._inject({"type": CLIENT_RESPONSE, "message": _refusal(message.get("id"), outcome.violation)})
            return None
        return {**message, "params": outcome.payload.params} if outcome.modified else message

    async def _after(self, hook: str, message: Message) -> Message:
        result = message.get("result")
        if not self._executor.has(hook) or not isinstance(result, dict):
            return message
        payload = built(ServerResponsePayload, method=hook.split("_", 1)[0], result=result)
        outcome = await self._executor.run(hook, payload, self._target, self._contexts)
        if outcome.violation is not None:
            return _refusal(message.get("id"), outcome.violation)
        return {**message, "result": outcome.payload.result} if outcome.modified else message

    def _inject(self, event: Event) -> None:
        self._injected.append(event)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def close(self) -> None:
        """The call ended. A reader still waiting keeps waiting: an answer to a question relayed
        with this call may come after it (upstream.session.channel.LATE_ANSWERS), and its hook
        still runs; that reader stops it."""
        if self._pending is not None and not self._reading:
            self._pending.cancel()


def _refusal(request_id: Any, violation: PluginViolation) -> Message:
    """The answer the upstream gets for a question a plugin refused."""
    text = f"refused by plugin {violation.plugin_name}: {violation.code}: {violation.reason}"
    return error_message(request_id, FORBIDDEN, text, fault="policy")
