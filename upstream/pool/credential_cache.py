"""Access tokens kept until they are about to expire, one fetch at a time.

A token is used as it is until a margin before it expires; within the margin it is still sent
while a fresh one is fetched in the background (a slow or failing token endpoint costs no
request anything while the old token is good); once expired, requests wait for the fetch.
Everyone who needs a token for the same key while it is being fetched shares that one fetch.
Keys are a server (client credentials) or a user (token exchange).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from enum import Enum
from typing import Any, Final

from upstream.transports.http_auth import CredentialsUnavailable

log = logging.getLogger("portcullis.upstream")

_PRUNE_ABOVE: Final = 1024
"""Past this many cached tokens (users), expired ones are forgotten at the next fetch."""

Fetch = Callable[[], Awaitable[Any]]
"""Gets a fresh ``OAuth2Token`` (authlib's: a dict with ``access_token`` and ``expires_at``)."""


class Freshness(Enum):
    FRESH = "fresh"
    DUE = "due"
    """Within the margin: still sent, while a fresh one is fetched."""
    EXPIRED = "expired"


def freshness(token: Any, margin: float) -> Freshness:
    """Where ``token`` stands; the margin is at most half its lifetime, so that a short-lived
    token is not refreshed all its life. A token without an expiry is fresh until refused."""
    expires_at = token.get("expires_at")
    if not isinstance(expires_at, int):
        return Freshness.FRESH
    if token.is_expired(leeway=0):
        return Freshness.EXPIRED
    try:
        lifetime = float(token.get("expires_in") or 0)
    except (TypeError, ValueError):
        lifetime = 0.0
    leeway = min(margin, lifetime / 2) if lifetime > 0 else margin
    return Freshness.DUE if token.is_expired(leeway=leeway) else Freshness.FRESH


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A background refresh that failed was logged; nobody else needs its exception."""
    if not task.cancelled():
        task.exception()


class TokenCache:
    def __init__(self, server: str, margin: float) -> None:
        self._server = server
        self._margin = margin
        self._tokens: dict[Hashable, Any] = {}
        self._fetches: dict[Hashable, asyncio.Task[Any]] = {}

    async def get(self, key: Hashable, fetch: Fetch) -> str:
        """The access token for ``key``; raises :class:`CredentialsUnavailable`."""
        token = self._tokens.get(key)
        if token is not None:
            state = freshness(token, self._margin)
            if state is Freshness.FRESH:
                return str(token["access_token"])
            if state is Freshness.DUE:
                self._start(key, fetch)
                return str(token["access_token"])
        fresh = await asyncio.shield(self._start(key, fetch))
        return str(fresh["access_token"])

    def drop(self, key: Hashable, access_token: str) -> None:
        """The upstream refused ``access_token``: forget it, unless a newer one replaced it."""
        token = self._tokens.get(key)
        if token is not None and token["access_token"] == access_token:
            del self._tokens[key]

    def _start(self, key: Hashable, fetch: Fetch) -> asyncio.Task[Any]:
        task = self._fetches.get(key)
        if task is None or task.done():
            task = asyncio.create_task(self._fetch(key, fetch), name=f"token:{self._server}")
            task.add_done_callback(_retrieved)
            self._fetches[key] = task
        return task

    async def _fetch(self, key: Hashable, fetch: Fetch) -> Any:
        try:
            token = await fetch()
        except CredentialsUnavailable as exc:
            current = self._tokens.get(key)
            if current is not None and freshness(current, self._margin) is not Freshness.EXPIRED:
                log.warning(
                    "[%s] refreshing an access token failed; the current one is used until it expires: %s",
                    self._server,
                    exc.detail,
                )
            raise
        finally:
            if self._fetches.get(key) is asyncio.current_task():
                del self._fetches[key]
        if len(self._tokens) >= _PRUNE_ABOVE:
            self._prune()
        self._tokens[key] = token
        return token

    def _prune(self) -> None:
        for key, token in list(self._tokens.items()):
            if freshness(token, 0) is Freshness.EXPIRED:
                del self._tokens[key]
