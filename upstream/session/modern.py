"""Speaking to a 2026-07-28 upstream: every request carries the version, the gateway's identity,
the calling client's capabilities and log level in ``_meta``; what the initialize era did per
session is done here per request.

- ``ping`` is answered here, and ``logging/setLevel`` becomes the ``logLevel`` of the requests
  that follow (for clients that set a level per session); neither reaches the upstream.
- ``resources/subscribe`` and ``resources/unsubscribe`` change the URIs of the one
  ``subscriptions/listen`` stream the connection keeps open (see :mod:`upstream.session.listen`).
- An ``input_required`` answer to ``tools/call``, ``prompts/get`` or ``resources/read`` goes to
  a modern client as it is (it retries by itself); for a legacy client each input request is
  asked as a server-to-client request, and the call is retried with the answers and the echoed
  ``requestState``, a bounded number of rounds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from middleware.protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    META_LOG_LEVEL,
    MRTR_METHODS,
    MRTR_RETRY_FIELDS,
    Message,
    error_message,
    result_message,
)
from upstream.session.connection import CallChannel
from upstream.session.era import modern_meta
from upstream.session.listen import Listener
from upstream.session.tool_headers import ToolHeaders

log = logging.getLogger("portcullis.upstream")

MAX_ROUNDS: Final = 10
"""Retries of one call with input responses before the gateway gives up on the upstream."""
SUBSCRIBE_WAIT: Final = 5.0
"""How long a subscription waits for the upstream to acknowledge the new listen filter."""

SendRequest = Callable[
    [str, dict[str, Any], CallChannel | None, Mapping[str, str] | None], Awaitable[Message]
]
"""Sends one request upstream: (method, params, channel, extra HTTP headers)."""


def is_input_required(result: Any) -> bool:
    return isinstance(result, dict) and result.get("resultType") == "input_required"


class ModernSession:
    """The modern half of one upstream connection (see the module docstring)."""

    def __init__(
        self,
        name: str,
        send: SendRequest,
        *,
        version: str,
        client_info: dict[str, Any],
        server_capabilities: dict[str, Any],
        on_notification: Callable[[Message], None],
    ) -> None:
        self.name = name
        self.version = version
        self._send = send
        self._client_info = client_info
        self.log_level: str | None = None
        """The level a legacy client set with logging/setLevel, for requests that name none."""
        self.listener = Listener(name, self._listen, server_capabilities, on_notification)
        self._tool_headers = ToolHeaders()

    def start(self) -> None:
        self.listener.start()

    async def close(self) -> None:
        await self.listener.close()

    async def request(
        self, method: str, params: dict[str, Any] | None, channel: CallChannel | None
    ) -> Message:
        params = params or {}
        if method == "ping":
            return result_message(None, {})
        if method == "logging/setLevel":
            level = params.get("level")
            self.log_level = level if isinstance(level, str) else None
            return result_message(None, {})
        if method in ("resources/subscribe", "resources/unsubscribe"):
            return await self._subscription(params, subscribe=method == "resources/subscribe")
        response = await self._call(method, self.stamp(params, channel), channel)
        if method in MRTR_METHODS and channel is not None and not channel.speaks_mrtr:
            return await self._answer_inputs(method, params, channel, response)
        return response

    def stamp(self, params: dict[str, Any], channel: CallChannel | None) -> dict[str, Any]:
        """``params`` with the modern ``_meta`` keys of this call (anything else kept)."""
        capabilities = channel.client_capabilities if channel is not None else {}
        meta = {**(params.get("_meta") or {}), **modern_meta(self.version, self._client_info, capabilities)}
        level = channel.log_level if channel is not None else None
        if level is None and (channel is None or not channel.speaks_mrtr):
            level = self.log_level
        if level is not None:
            meta[META_LOG_LEVEL] = level
        return {**params, "_meta": meta}

    async def _call(self, method: str, params: dict[str, Any], channel: CallChannel | None) -> Message:
        """Send a stamped request, with the ``Mcp-Param-*`` headers a tool call needs."""
        headers = self._tool_headers.for_call(params) if method == "tools/call" else None
        response = await self._send(method, params, channel, headers)
        if method == "tools/list":
            self._tool_headers.learn(response)
        return response

    async def _listen(self, params: dict[str, Any], channel: CallChannel) -> Message:
        return await self._send("subscriptions/listen", self.stamp(params, None), channel, None)

    async def _subscription(self, params: dict[str, Any], *, subscribe: bool) -> Message:
        uri = params.get("uri")
        if not isinstance(uri, str):
            return error_message(None, INVALID_PARAMS, "uri must be a string", fault="client")
        await self.listener.listen_to(
            (lambda uris: uris | {uri}) if subscribe else (lambda uris: uris - {uri}), wait=SUBSCRIBE_WAIT
        )
        return result_message(None, {})

    async def _answer_inputs(
        self, method: str, params: dict[str, Any], channel: CallChannel, response: Message
    ) -> Message:
        """Ask a legacy client what the upstream needs, and retry until it completes."""
        for _ in range(MAX_ROUNDS):
            result = response.get("result")
            if not is_input_required(result):
                return response
            assert isinstance(result, dict)
            requests = result.get("inputRequests") or {}
            if not isinstance(requests, dict):
                return error_message(
                    response.get("id"),
                    INTERNAL_ERROR,
                    f"upstream server {self.name!r} sent inputRequests that are not an object",
                    fault="upstream",
                )
            keys = list(requests)
            answers = await asyncio.gather(*(self._ask(channel, requests[key]) for key in keys))
            responses: dict[str, Any] = {}
            for key, answer in zip(keys, answers, strict=True):
                if "error" in answer:
                    return {"jsonrpc": "2.0", "id": response.get("id"), "error": answer["error"]}
                responses[key] = answer.get("result") or {}
            retry = {k: v for k, v in params.items() if k not in MRTR_RETRY_FIELDS}
            retry["inputResponses"] = responses
            if "requestState" in result:
                retry["requestState"] = result["requestState"]
            response = await self._call(method, self.stamp(retry, channel), channel)
        if not is_input_required(response.get("result")):
            return response
        return error_message(
            response.get("id"),
            INTERNAL_ERROR,
            f"upstream server {self.name!r} still asked for input after {MAX_ROUNDS} rounds; the gateway "
            "gave up on the call",
            fault="upstream",
        )

    async def _ask(self, channel: CallChannel, request: Any) -> Message:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            problem = f"upstream server {self.name!r} sent a malformed input request"
            return error_message(None, INVALID_PARAMS, problem, fault="upstream")
        params = request.get("params") or {}
        question: Message = {"jsonrpc": "2.0", "method": request["method"], "params": params}
        try:
            return await channel.ask(question)
        except Exception as exc:  # boundary: one failed question fails the call, not the gateway
            log.exception("[%s] asking the client %s failed", self.name, request["method"])
            return error_message(None, INTERNAL_ERROR, f"the gateway could not ask the client: {exc}")
