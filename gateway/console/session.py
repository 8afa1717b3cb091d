"""The console's login sessions: a signed cookie naming a session held here, and its CSRF token.

The signing key is made at start and kept in memory only, so a restart logs everyone out and
nothing on disk can forge a cookie. Sessions are held here too (not only signed), so that
logging out ends one for good and an idle or old one expires. The console's forms carry the
session's CSRF token; the login form, before any session, carries a token tied to a short-lived
cookie of its own (double submit), so another site cannot log a browser in either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

SESSION_COOKIE: Final = "portcullis_console"
LOGIN_COOKIE: Final = "portcullis_console_login"
LIFETIME: Final = 8 * 3600.0
"""A session ends this long after login, however busy."""
IDLE: Final = 3600.0
"""...or after this long without a request."""
LOGIN_WINDOW: Final = 600.0
"""A login form must be sent back within this long."""
LIMIT: Final = 64
"""Sessions held at once; the oldest goes first."""


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    seen: float
    notes: list[tuple[str, str]] = field(default_factory=list)
    """Messages for the next page (kind, text): what an action did, or why it was refused."""

    def take_notes(self) -> list[tuple[str, str]]:
        notes, self.notes = self.notes, []
        return notes


class Sessions:
    """The sessions of one console (one admin listener)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self._held: dict[str, Session] = {}

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def _signed(self, value: str | None, purpose: str) -> str | None:
        """What a cookie signed for ``purpose`` carries, if its signature is ours."""
        if not value or "." not in value:
            return None
        text, _, signature = value.rpartition(".")
        return text if _same(signature, self._sign(purpose + text)) else None

    def open(self) -> tuple[Session, str]:
        """A new session, and its cookie's value."""
        now = self._clock()
        self._forget_old(now)
        while len(self._held) >= LIMIT:
            del self._held[min(self._held.values(), key=lambda s: s.seen).id]
        session = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(32), now, now)
        self._held[session.id] = session
        return session, f"{session.id}.{self._sign('session:' + session.id)}"

    def find(self, cookie: str | None) -> Session | None:
        """The live session a cookie names; None if unsigned, unknown, ended or expired."""
        signed = self._signed(cookie, "session:")
        session = self._held.get(signed) if signed is not None else None
        now = self._clock()
        if session is None or self._expired(session, now):
            return None
        session.seen = now
        return session

    def end(self, session: Session) -> None:
        self._held.pop(session.id, None)

    def _expired(self, session: Session, now: float) -> bool:
        if now - session.created > LIFETIME or now - session.seen > IDLE:
            self._held.pop(session.id, None)
            return True
        return False

    def _forget_old(self, now: float) -> None:
        for session in list(self._held.values()):
            self._expired(session, now)

    def login_form(self) -> tuple[str, str]:
        """(the login cookie's value, the token its form carries)."""
        nonce = f"{int(self._clock())}:{secrets.token_urlsafe(16)}"
        return f"{nonce}.{self._sign('login:' + nonce)}", self._sign("form:" + nonce)

    def login_form_ok(self, cookie: str | None, token: str) -> bool:
        """The login form was the one this browser was given, and recently."""
        nonce = self._signed(cookie, "login:")
        if nonce is None:
            return False
        issued = float(nonce.split(":")[0])
        fresh = 0 <= self._clock() - issued <= LOGIN_WINDOW
        return fresh and _same(token, self._sign("form:" + nonce))


def _same(given: str, expected: str) -> bool:
    """Compared in constant time, as bytes (a str comparison refuses non-ASCII input)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def csrf_ok(session: Session, token: str) -> bool:
    return bool(token) and _same(token, session.csrf)
