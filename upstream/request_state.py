"""``requestState`` tokens the gateway mints for multi round-trip requests (2026-07-28).

When a legacy upstream asks a modern client something mid-call, the gateway answers the client
with ``input_required`` and keeps the upstream call waiting; the token it hands out names that
waiting call. A client could tamper with it, replay it, or present another principal's, so it
is MACed with a gateway key, carries its principal and expiry, and is accepted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Final

import orjson

_VERSION: Final = b"1"
_MAC_BYTES: Final = 32


class InvalidRequestState(ValueError):
    """Forged, expired, replayed or foreign; the message says which, for the log, not the client."""


@dataclass(frozen=True, slots=True)
class RequestState:
    call_id: str
    """Which parked upstream call the retry resumes."""
    principal: str
    expires: float


class RequestStates:
    """Mints and checks tokens. Replicas that share sessions must share ``key``."""

    def __init__(self, key: bytes | None = None, *, lifetime: float = 300.0) -> None:
        self._key = key or secrets.token_bytes(32)
        self._lifetime = lifetime
        self._spent: dict[str, float] = {}

    def mint(self, call_id: str, principal: str) -> str:
        expires = time.time() + self._lifetime
        body = orjson.dumps({"c": call_id, "p": principal, "e": expires, "n": secrets.token_hex(8)})
        mac = hmac.new(self._key, _VERSION + body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(_VERSION + mac + body).decode().rstrip("=")

    def redeem(self, token: object, principal: str) -> RequestState:
        """Check a token presented by ``principal``; a token can be redeemed once."""
        if not isinstance(token, str):
            raise InvalidRequestState("requestState must be a string")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise InvalidRequestState("requestState is not one this gateway issued") from None
        version, mac, body = raw[:1], raw[1 : 1 + _MAC_BYTES], raw[1 + _MAC_BYTES :]
        expected = hmac.new(self._key, version + body, hashlib.sha256).digest()
        if version != _VERSION or not hmac.compare_digest(mac, expected):
            raise InvalidRequestState("requestState failed its integrity check")
        fields = orjson.loads(body)
        state = RequestState(call_id=fields["c"], principal=fields["p"], expires=fields["e"])
        now = time.time()
        if state.expires < now:
            raise InvalidRequestState("requestState has expired")
        if state.principal != principal:
            raise InvalidRequestState("requestState belongs to another principal")
        self._forget_expired(now)
        nonce = fields["n"]
        if nonce in self._spent:
            raise InvalidRequestState("requestState was already used")
        self._spent[nonce] = state.expires
        return state

    def _forget_expired(self, now: float) -> None:
        for nonce in [n for n, expires in self._spent.items() if expires < now]:
            del self._spent[nonce]
