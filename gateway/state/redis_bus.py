"""The replicas' bus on Redis pub/sub (:class:`gateway.front.bus.ReplicaBus`): one channel,
``<prefix>bus``, that every replica publishes to and listens on.

Each message is small JSON ``{"from": replica, "kind", "session", "payload"}``; a replica
ignores its own. Publishing is one round trip, and only happens off the common path (a client's
answer or cancellation for a call this replica does not hold). Listening is one background task
per replica, reconnecting with backoff; an outage is one warning, and its end one line: what is
published meanwhile is lost (the call waiting for it then times out as it would without an
answer), and a failed publish is logged, never raised to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any, Final

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.state.stopping import stop

log = logging.getLogger("portcullis.bus")

_RETRY_SECONDS: Final = 0.25
_RETRY_MAX_SECONDS: Final = 10.0
Deliver = Callable[[str, str, dict[str, Any]], object]
"""``(kind, session_id, payload)``: what to do with another replica's message."""


class RedisBus:
    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._channel = f"{prefix}bus"
        self._prefix = prefix
        self.replica = secrets.token_hex(6)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def publish(self, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        message = {"from": self.replica, "kind": kind, "session": session_id, "payload": payload}
        try:
            await self._redis.publish(self._channel, orjson.dumps(message))
        except RedisError as exc:
            log.warning("could not tell the other replicas of a %s for a session (%s)", kind, exc)

    async def remember(self, key: str, value: str, seconds: float) -> None:
        """Keep ``value`` under ``key`` for the other replicas (a task's owner), for ``seconds``."""
        try:
            await self._redis.set(f"{self._prefix}{key}", value, ex=max(1, int(seconds)))
        except RedisError as exc:
            log.warning("could not record %s for the other replicas (%s)", key.split(":", 1)[0], exc)

    async def recall(self, key: str) -> str | None:
        """What a replica remembered under ``key``; None when nothing (or Redis cannot say)."""
        try:
            value = await self._redis.get(f"{self._prefix}{key}")
        except RedisError:
            return None
        return value.decode() if isinstance(value, bytes) else None

    def listen(self, deliver: Deliver) -> None:
        """Hear the other replicas from now on (until :meth:`close`)."""
        self._listener = asyncio.create_task(self._listen(deliver), name="replica-bus")

    async def listening(self, patience: float) -> bool:
        """Whether the subscription is in place within ``patience`` seconds (start-up, tests)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), patience)
        return self._listening.is_set()

    async def _listen(self, deliver: Deliver) -> None:
        failures = 0
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._listening.set()
                    if failures:
                        log.warning("the replica bus is reachable again")
                    failures = 0
                    async for raw in pubsub.listen():
                        self._heard(raw, deliver)
            except (RedisError, OSError) as exc:
                self._listening.clear()
                failures += 1
                if failures == 1:  # once per outage, not once per retry
                    log.warning("cannot hear the other replicas (%s); retrying", exc)
            await asyncio.sleep(min(_RETRY_MAX_SECONDS, _RETRY_SECONDS * 2**failures))

    def _heard(self, raw: dict[str, Any], deliver: Deliver) -> None:
        if raw.get("type") != "message":
            return
        try:
            message = orjson.loads(raw["data"])
            if message["from"] == self.replica:
                return
            deliver(str(message["kind"]), str(message["session"]), dict(message["payload"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a message on the replica bus that no gateway of this version sent")

    async def close(self) -> None:
        await stop(self._listener)
        await self._redis.aclose()
