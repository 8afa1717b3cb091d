"""``requestState`` tokens the gateway mints for multi round-trip requests (2026-07-28).

A modern client retries a request with the token the gateway handed it; the token says what
the retry resumes (a parked upstream call, or a modern upstream's own state, wrapped). A client
could tamper with it, replay it, present another principal's or attach it to another request,
so it is MACed with a gateway key and carries its principal, its expiry and a digest of the
request it belongs to; each token is spent once, in a ledger replicas can share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson

from middleware.protocol import MRTR_RETRY_FIELDS

PREFIX: Final = "pcs1."
"""Marks the gateway's own tokens; any other requestState belongs to no one here."""
_MAC_BYTES: Final = 32
_NOT_SALIENT: Final = MRTR_RETRY_FIELDS | {"_meta"}


class LedgerUnavailable(RuntimeError):
    """The shared ledger cannot be reached: the gateway cannot tell whether a token was spent,
    so it refuses to honour it (fails closed) and says the fault is its own."""


class InvalidRequestState(ValueError):
    """Forged, expired, replayed, foreign or for another request; the message says which, for
    the log, not the client."""


@dataclass(frozen=True, slots=True)
class RequestState:
    principal: str
    expires: float
    payload: dict[str, Any]


class SpentTokens(Protocol):
    """Which tokens were redeemed; shared by replicas so a token works once across all."""

    async def spend(self, nonce: str, expires: float) -> bool:
        """Record ``nonce`` as spent; False if it already was; :class:`LedgerUnavailable` if
        it cannot tell."""
        ...


class InMemorySpentTokens:
    def __init__(self) -> None:
        self._spent: dict[str, float] = {}

    async def spend(self, nonce: str, expires: float) -> bool:
        now = time.time()
        if len(self._spent) > 1024:
            for old in [n for n, until in self._spent.items() if until < now]:
                del self._spent[old]
        if nonce in self._spent:
            return False
        self._spent[nonce] = expires
        return True


def request_digest(method: str, params: Mapping[str, Any]) -> str:
    """What identifies a request across its retries: its method and its salient params."""
    salient = {k: v for k, v in params.items() if k not in _NOT_SALIENT}
    body = orjson.dumps([method, salient], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:32]


def is_ours(token: object) -> bool:
    return isinstance(token, str) and token.startswith(PREFIX)


class RequestStates:
    """Mints and checks tokens. Replicas must share ``key`` and ``spent``."""

    def __init__(
        self,
        key: bytes | None = None,
        *,
        lifetime: float = 300.0,
        spent: SpentTokens | None = None,
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self.lifetime = lifetime
        self._spent = spent or InMemorySpentTokens()

    def use_key(self, key: bytes) -> None:
        """Sign with ``key`` from now on (the one the replicas share: gateway start-up)."""
        self._key = key

    def mint(self, principal: str, digest: str, payload: Mapping[str, Any]) -> str:
        expires = time.time() + self.lifetime
        body = orjson.dumps(
            {"p": principal, "e": expires, "r": digest, "n": secrets.token_hex(8), "x": payload}
        )
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return PREFIX + base64.urlsafe_b64encode(mac + body).decode().rstrip("=")

    async def redeem(self, token: object, principal: str, digest: str) -> RequestState:
        """Check a token presented by ``principal`` on the request ``digest``; spend it."""
        if not is_ours(token):
            raise InvalidRequestState("requestState is not one this gateway issued")
        assert isinstance(token, str)
        encoded = token[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            raise InvalidRequestState("requestState is not one this gateway issued") from None
        mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()):
            raise InvalidRequestState("requestState failed its integrity check")
        fields = orjson.loads(body)
        state = RequestState(principal=fields["p"], expires=fields["e"], payload=fields["x"])
        if state.expires < time.time():
            raise InvalidRequestState("requestState has expired")
        if state.principal != principal:
            raise InvalidRequestState("requestState belongs to another principal")
        if fields["r"] != digest:
            raise InvalidRequestState("requestState was issued for a different request")
        if not await self._spent.spend(fields["n"], state.expires):
            raise InvalidRequestState("requestState was already used")
        return state
