"""The spent-``requestState`` ledger on Redis, shared by every replica of a deployment, so a
token redeemed on one replica cannot be replayed on another."""

from __future__ import annotations

import time
from typing import Final

import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.request_state import LedgerUnavailable

_KEY_PREFIX: Final = "portcullis:spent-request-state:"


class RedisSpentTokens:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    async def spend(self, nonce: str, expires: float) -> bool:
        lifetime_ms = max(1, int((expires - time.time()) * 1000))
        try:
            first = await self._redis.set(_KEY_PREFIX + nonce, b"1", nx=True, px=lifetime_ms)
        except RedisError as exc:
            raise LedgerUnavailable(f"the requestState ledger is unreachable: {exc}") from exc
        return bool(first)

    async def close(self) -> None:
        await self._redis.aclose()
