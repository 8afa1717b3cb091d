"""Translation state on Redis, shared by every replica of a deployment: the spent
``requestState`` tokens (so one redeemed on one replica cannot be replayed on another), and a
notice when a call parked on one replica was resumed on another (so the first lets its copy go
at once instead of holding an upstream call open until it expires)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Final

import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.front.request_state import LedgerUnavailable
from gateway.state.stopping import stop

log = logging.getLogger("portcullis.endpoint")

_SPENT: Final = "spent-request-state:"
_RESUMED: Final = "resumed-elsewhere"
_SHARED_KEY: Final = "request-state-key"
_RETRY_SECONDS: Final = 0.5
_RETRY_MAX_SECONDS: Final = 30.0


class RedisLedger:
    def __init__(self, url: str, *, prefix: str = "portcullis:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._watcher: asyncio.Task[None] | None = None
        self._spent = prefix + _SPENT
        self._channel = prefix + _RESUMED
        self._shared_key = prefix + _SHARED_KEY

    async def shared_key(self) -> bytes | None:
        """The ``requestState`` MAC key every replica on this Redis uses, made by the first to
        ask (``SET NX``) when ``[sessions] request_state_key`` is not configured; None when
        Redis cannot be reached (this replica then keeps a key of its own, and says so)."""
        try:
            await self._redis.set(self._shared_key, secrets.token_bytes(32), nx=True)
            key = await self._redis.get(self._shared_key)
        except RedisError as exc:
            log.warning(
                "cannot read the shared requestState key (%s): retries of 2026-07-28 calls that "
                "land on another replica fail until this one restarts with Redis reachable",
                exc,
            )
            return None
        return key if isinstance(key, bytes) else None

    async def spend(self, nonce: str, expires: float) -> bool:
        lifetime_ms = max(1, int((expires - time.time()) * 1000))
        try:
            first = await self._redis.set(self._spent + nonce, b"1", nx=True, px=lifetime_ms)
        except RedisError as exc:
            raise LedgerUnavailable(f"the requestState ledger is unreachable: {exc}") from exc
        return bool(first)

    async def resumed_elsewhere(self, call_id: str) -> None:
        """Tell the other replicas that ``call_id`` was resumed (replayed) here."""
        try:
            await self._redis.publish(self._channel, call_id)
        except RedisError as exc:  # the parked copy then just waits for its expiry
            log.warning("could not tell the other replicas a call was resumed here: %s", exc)

    def watch_resumed(self, on_resumed: Callable[[str], None]) -> None:
        """Call ``on_resumed(call_id)`` for every call another replica resumed."""
        self._watcher = asyncio.create_task(self._watch(on_resumed), name="resumed-elsewhere")

    async def _watch(self, on_resumed: Callable[[str], None]) -> None:
        failures = 0
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    failures = 0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            on_resumed(message["data"].decode())
            except RedisError as exc:
                failures += 1
                if failures == 1:  # once per outage, not once per retry
                    log.warning("cannot hear of calls resumed on other replicas (%s); retrying", exc)
            await asyncio.sleep(min(_RETRY_MAX_SECONDS, _RETRY_SECONDS * 2**failures))

    async def close(self) -> None:
        await stop(self._watcher)
        await self._redis.aclose()
