"""Projects, users and API keys from settings and the state store, kept in memory.

The hot path reads a snapshot (:class:`KeyAuthenticator`'s table, the projects' servers); a
background task polls the store's version every second and rebuilds the snapshot when it
changed, so a key revoked with ``portcullis keys revoke`` stops working within about a second on
every replica sharing the store. When the store fails, the last snapshot stays (said once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

from gateway.settings import Settings, SettingsError
from gateway.settings.identity import tenancy_problems
from gateway.state.stopping import stop
from gateway.state.tenancy_merge import Declared, Directory, declared, merge
from gateway.state.tenancy_store import open_tenancy_store
from middleware.auth.keys import KeyAuthenticator, Stored, TenancyStore, TenancyStoreError, load

log = logging.getLogger("portcullis.tenancy")

POLL_SECONDS = 1.0


def store_location(settings: Settings) -> str:
    """``[redis] url`` when set (replicas share it), else the ``[guardrails] store`` state
    file (a SQLite path resolved beside the settings file, 'memory' or a Redis URL)."""
    return settings.redis.url or settings.guardrails.store


def open_store(settings: Settings) -> TenancyStore:
    # Opened with the password (if any); shown (store_location) without it.
    return open_tenancy_store(settings.redis.connect_url or settings.guardrails.store, settings.redis.prefix)


def settings_problems(settings: Settings) -> list[str]:
    """The tenancy's cross-table problems of ``settings`` (unknown project, a hash twice...)."""
    return tenancy_problems(settings.projects, settings.users, settings.auth.api_keys)


async def read_directory(settings: Settings, store: TenancyStore) -> Directory:
    """Settings and store merged, read now (the CLI's and ``check``'s view)."""
    return merge(declared(settings), await load(store))


def has_keys(settings: Settings) -> bool | None:
    """Whether any API key is declared in settings or made in the store; None when the store
    cannot be read. Synchronous, for ``serve`` to decide before its event loop starts."""
    if settings.auth.api_keys or any(user.keys for user in settings.users.values()):
        return True
    location = store_location(settings)
    if location == "memory" or ("://" not in location and not Path(location).exists()):
        return False

    async def count() -> int:
        store = open_store(settings)
        try:
            return len((await asyncio.wait_for(load(store), 5)).keys)
        finally:
            await store.close()

    try:
        return asyncio.run(count()) > 0
    except (TenancyStoreError, TimeoutError):
        return None


class Tenancy:
    """The tenancy of a running gateway: ``authenticator`` for the chain of identity, and
    :meth:`project_servers` for policies; both answer from memory."""

    def __init__(
        self, settings: Settings, key_hashes: Mapping[str, str] | None = None, *, poll: float = POLL_SECONDS
    ) -> None:
        problems = settings_problems(settings)
        if problems:
            raise SettingsError("settings", problems)
        self._declared: Declared = declared(settings, key_hashes)
        self._settings = settings
        self.poll = poll
        self.directory = merge(self._declared, Stored())
        self.authenticator = KeyAuthenticator(self.directory.key_table())
        self._servers = self.directory.project_servers()
        self._store: TenancyStore | None = None
        self._version: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._outage = False

    def project_servers(self, project: str) -> tuple[str, ...] | None:
        """The server-name globs ``project`` is bound to. A project nobody declared (a token's
        claim, say) gets no server once any project exists: fail closed. With no project at all
        a project is only a label, and None leaves the caller unbound."""
        if not self._servers:
            return None
        return self._servers.get(project, ())

    @property
    def store(self) -> TenancyStore | None:
        """The store this tenancy reads, once started (the admin API writes through it, so a
        change applies even to a 'memory' store); None before :meth:`start` and after close."""
        return self._store

    @property
    def reachable(self) -> bool:
        """Whether the store answered when last asked (``/readyz``)."""
        return self._store is not None and not self._outage

    async def start(self) -> None:
        self._store = open_store(self._settings)
        if not await self.refresh():
            log.error(
                "tenancy: serving the projects, users and keys of settings only until the store answers; "
                "keys made or revoked with `portcullis keys` do not apply until then"
            )
        self._task = asyncio.create_task(self._poll(), name="tenancy-refresh")

    async def reload(self, settings: Settings, key_hashes: Mapping[str, str]) -> None:
        """The projects, users and keys of new settings (SIGHUP), merged with the store again;
        until the store answers, the last snapshot stays and the poll retries."""
        problems = settings_problems(settings)
        if problems:
            raise SettingsError("settings", problems)
        self._declared = declared(settings, key_hashes)
        self._settings = settings
        self._version = None
        if self._store is not None:
            await self.refresh()

    async def refresh(self) -> bool:
        """Reload when the store's version moved; False when the store could not be read."""
        assert self._store is not None
        try:
            if await self._store.version() != self._version:
                self._apply(await load(self._store))
        except Exception as exc:  # boundary: any failure keeps the last snapshot
            if not self._outage:
                self._outage = True
                reason = str(exc) if isinstance(exc, TenancyStoreError) else type(exc).__name__
                log.warning("tenancy: %s; keeping the last projects, users and keys, retrying", reason)
            return False
        if self._outage:
            self._outage = False
            log.warning("tenancy: the store %s answers again", self._store.where)
        return True

    def _apply(self, stored: Stored) -> None:
        directory = merge(self._declared, stored)
        self.authenticator.replace(directory.key_table())
        self._servers = directory.project_servers()
        self.directory = directory
        self._version = stored.version
        log.info(
            "tenancy: %d projects, %d users, %d keys (store version %d)",
            len(directory.projects),
            len(directory.users),
            len(directory.keys),
            stored.version,
        )
        for problem in directory.problems:
            log.warning("tenancy: %s", problem)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            await self.refresh()

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
        if self._store is not None:
            with contextlib.suppress(Exception):  # closing a broken connection must not fail a stop
                await self._store.close()
            self._store = None
