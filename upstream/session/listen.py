"""The one ``subscriptions/listen`` stream a connection keeps open to a modern upstream, in place
of the initialize era's ``resources/subscribe`` and GET stream.

Its filter asks for the list changes the server declares (``listChanged``) and, when it declares
``resources.subscribe``, updates of the URIs the gateway's sessions subscribed to. A new set of
URIs opens a new stream with the new filter, and the old one is closed once the new one is
acknowledged, so no update falls between them. A stream that ends is opened again, with backoff.
What arrives on it goes to the connection's sink for unsolicited notifications, without the
``subscriptionId`` the upstream tagged it with; the acknowledgement stays here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from middleware.protocol import META_SUBSCRIPTION_ID, METHOD_NOT_FOUND, Message, error_message
from upstream.errors import UpstreamError
from upstream.session.connection import CallChannel

log = logging.getLogger("portcullis.upstream")

ACKNOWLEDGED: Final = "notifications/subscriptions/acknowledged"
_BACKOFF_INITIAL: Final = 0.5
_BACKOFF_MAX: Final = 30.0

Listen = Callable[[dict[str, Any], CallChannel], Awaitable[Message]]
"""Sends ``subscriptions/listen`` with these params, relating what arrives to the channel."""


class _StreamChannel:
    """Where one listen stream's notifications go (it is a call like any other)."""

    client_capabilities: dict[str, Any] = {}
    speaks_mrtr = True
    log_level: str | None = None
    waiting_on_client = True  # it never asks: never the call a server request belongs to

    def __init__(self, sink: Callable[[Message], None]) -> None:
        self._sink = sink
        self.acknowledged = asyncio.Event()

    async def notify(self, message: Message) -> None:
        if message.get("method") == ACKNOWLEDGED:
            self.acknowledged.set()
            return
        params = message.get("params")
        if isinstance(params, dict) and isinstance(params.get("_meta"), dict):
            meta = {k: v for k, v in params["_meta"].items() if k != META_SUBSCRIPTION_ID}
            params = {**params, "_meta": meta} if meta else {k: v for k, v in params.items() if k != "_meta"}
            message = {**message, "params": params}
        self._sink(message)

    async def ask(self, request: Message) -> Message:
        return error_message(None, METHOD_NOT_FOUND, "a subscriptions/listen stream takes no requests")


class Listener:
    def __init__(
        self,
        name: str,
        listen: Listen,
        server_capabilities: dict[str, Any],
        sink: Callable[[Message], None],
    ) -> None:
        self._name = name
        self._listen = listen
        self._sink = sink
        tools = server_capabilities.get("tools") or {}
        prompts = server_capabilities.get("prompts") or {}
        resources = server_capabilities.get("resources") or {}
        self._flags = {
            "toolsListChanged": bool(isinstance(tools, dict) and tools.get("listChanged")),
            "promptsListChanged": bool(isinstance(prompts, dict) and prompts.get("listChanged")),
            "resourcesListChanged": bool(isinstance(resources, dict) and resources.get("listChanged")),
        }
        self._subscribable = bool(isinstance(resources, dict) and resources.get("subscribe"))
        self.uris: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def notifications(self) -> dict[str, Any]:
        """The filter: only what the server declares it can send."""
        wanted: dict[str, Any] = {key: True for key, declared in self._flags.items() if declared}
        if self._subscribable and self.uris:
            wanted["resourceSubscriptions"] = sorted(self.uris)
        return wanted

    def start(self) -> None:
        if self.notifications() and self._task is None:
            self._task = self._spawn(_StreamChannel(self._sink))

    async def listen_to(self, change: Callable[[frozenset[str]], frozenset[str]], *, wait: float) -> None:
        """Listen for updates of ``change(current URIs)`` from now on; returns once the upstream
        acknowledged the new filter (or ``wait`` seconds passed). The new set is computed under
        the lock, so concurrent changes (two subscribes) all land."""
        async with self._lock:
            uris = change(self.uris)
            if uris == self.uris or self._closed:
                return
            self.uris = uris
            old = self._task
            self._task = None
            if self.notifications():
                channel = _StreamChannel(self._sink)
                self._task = self._spawn(channel)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(channel.acknowledged.wait(), wait)
            if old is not None:
                await _stop(old)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            await _stop(self._task)

    def _spawn(self, channel: _StreamChannel) -> asyncio.Task[None]:
        return asyncio.create_task(self._keep(channel), name=f"listen:{self._name}")

    async def _keep(self, channel: _StreamChannel) -> None:
        """Hold one stream open, opening it again whenever it ends, until cancelled."""
        delay = _BACKOFF_INITIAL
        while not self._closed:
            try:
                response = await self._listen({"notifications": self.notifications()}, channel)
            except UpstreamError:
                return  # the connection is gone; its successor listens afresh
            error = response.get("error")
            if error is not None:
                log.warning(
                    "[%s] subscriptions/listen ended: %s; listening again", self._name, error.get("message")
                )
            else:
                log.debug("[%s] subscriptions/listen ended; listening again", self._name)
            if channel.acknowledged.is_set():
                delay = _BACKOFF_INITIAL  # it worked for a while: not a refusal loop
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)
            channel = _StreamChannel(self._sink)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
