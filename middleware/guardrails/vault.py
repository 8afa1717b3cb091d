"""Reversible redaction: personal data and secrets become placeholders, restored on the way back.

A value found in a result becomes ``[PHONE_1f2e3d4c5b]`` (an e-mail address
``redacted-1f2e3d4c5b@pii.invalid``); the model works with the placeholder, and
when the same principal sends it back in a tool's arguments the gateway puts the value back
before the call goes upstream (to the server that produced it, unless policy says otherwise).

- The placeholder is an HMAC of (principal, value): the same value reads the same within one
  principal's conversation, and says nothing about the value or across principals.
- The mapping is stored encrypted (AES-GCM, the principal and placeholder bound as associated data,
  so a record cannot be replayed for another principal), under a hashed key, with an expiry.
- Values never reach a log; a placeholder that does not resolve stays as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from middleware.guardrails.store import GuardrailStore

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]{1,23}_[0-9a-f]{10}\]|redacted-[0-9a-f]{10}@pii\.invalid")
"""What a placeholder looks like in text: ``[KIND_0123456789]``, or for an e-mail address an
address (``redacted-0123456789@pii.invalid``), so that a field whose schema wants an e-mail still
gets one (``.invalid`` is reserved: it can never reach anyone)."""


@dataclass(frozen=True, slots=True)
class Kept:
    """One value the vault keeps: where it came from decides where it may go back."""

    placeholder: str
    value: str
    server: str | None


class Vault:
    """Placeholders per principal, and the encrypted mapping behind them."""

    def __init__(self, store: GuardrailStore, key: bytes | None = None, ttl: float = 3600.0) -> None:
        self._store = store
        secret = key if key is not None else os.urandom(32)
        # Two keys from one secret: one names placeholders, one encrypts values.
        self._naming = hmac.new(secret, b"portcullis placeholder names", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(secret, b"portcullis vault encryption", hashlib.sha256).digest())
        self.ttl = ttl

    def placeholder(self, principal: str, kind: str, value: str) -> str:
        digest = hmac.new(self._naming, f"{principal}\x00{value}".encode(), hashlib.sha256).hexdigest()
        if kind == "email":
            return f"redacted-{digest[:10]}@pii.invalid"
        return f"[{kind.upper()}_{digest[:10]}]"

    def _record_key(self, principal: str, placeholder: str) -> str:
        who = hmac.new(self._naming, principal.encode(), hashlib.sha256).hexdigest()[:16]
        return f"vault:{who}:{placeholder}"

    async def keep(self, principal: str, kept: Iterable[Kept]) -> None:
        """Store the values behind fresh placeholders (one round trip for all of them)."""
        records: dict[str, bytes] = {}
        for item in kept:
            nonce = os.urandom(12)
            plain = orjson.dumps({"v": item.value, "s": item.server})
            bound = f"{principal}\x00{item.placeholder}".encode()
            records[self._record_key(principal, item.placeholder)] = nonce + self._aead.encrypt(
                nonce, plain, bound
            )
        if records:
            await self._store.set_many(records, self.ttl)

    async def values(self, principal: str, placeholders: Iterable[str]) -> Mapping[str, Kept]:
        """The values behind ``placeholders`` that this principal may see (one round trip)."""
        wanted = sorted(set(placeholders))
        if not wanted:
            return {}
        found = await self._store.get_many([self._record_key(principal, p) for p in wanted])
        values: dict[str, Kept] = {}
        for placeholder, sealed in zip(wanted, found, strict=True):
            opened = self._open(principal, placeholder, sealed)
            if opened is not None:
                values[placeholder] = opened
        return values

    def _open(self, principal: str, placeholder: str, sealed: bytes | None) -> Kept | None:
        if sealed is None or len(sealed) < 13:
            return None
        try:
            plain = self._aead.decrypt(sealed[:12], sealed[12:], f"{principal}\x00{placeholder}".encode())
        except Exception:  # another key (a restarted gateway without a set key) or tampering
            return None
        record = orjson.loads(plain)
        return Kept(placeholder, str(record["v"]), record.get("s"))


def placeholders_in(text: str) -> list[str]:
    """The placeholders a text carries (cheap: most texts have no ``[``)."""
    if "[" not in text and "@pii.invalid" not in text:
        return []
    return [match.group(0) for match in PLACEHOLDER.finditer(text)]
