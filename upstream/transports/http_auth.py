"""Credentials an HTTP upstream gets with each request, and the one retry a 401 earns.

The transports do not know where credentials come from (the environment, files, an OAuth
token endpoint): they ask an :class:`HttpAuth` for the headers of each request and tell it when
the upstream refused them. The Protocol lives here, below the pool that implements it
(:mod:`upstream.pool.credentials`), so that the layers keep pointing down.

A client's own credentials never reach this layer: the HTTP tier consumes them, and what a
transport sends is its server's configured headers plus what its :class:`HttpAuth` gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol

import aiohttp

DEFAULT_HINT: Final = "check the server's `headers`"
"""What to check when an upstream without managed credentials refuses ours."""

NO_HEADERS: Final[Mapping[str, str]] = {}
NO_CREDENTIALS: Final = "could not get its credentials"
"""How a failure to get an upstream's credentials reads after "upstream server 'NAME'"."""


class CredentialsUnavailable(aiohttp.ClientError):
    """An upstream's credentials cannot be had now: an unset variable, an unreadable file, a
    token endpoint that refused or failed. ``detail`` names the setting and the fix, never a
    value. An ``aiohttp.ClientError`` so that every path that survives a failed request (and
    the boundary that maps foreign errors) handles it the same way, in the right words."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{NO_CREDENTIALS}: {detail}")
        self.detail = detail


class HttpAuth(Protocol):
    """The credentials of one upstream connection."""

    @property
    def hint(self) -> str:
        """What to check when the upstream refuses our credentials (names the settings key)."""
        ...

    async def headers(self) -> Mapping[str, str]:
        """The headers to send with the next request; raises :class:`CredentialsUnavailable`."""
        ...

    async def refused(self, sent: Mapping[str, str]) -> bool:
        """The upstream answered 401 to ``sent``: forget them. True when fresh ones are worth
        one retry (a new token, a secret file that changed)."""
        ...


Request = Callable[[Mapping[str, str]], Awaitable[aiohttp.ClientResponse]]
"""Sends one HTTP request with these credential headers added to its own."""


async def authorized(auth: HttpAuth | None, request: Request) -> aiohttp.ClientResponse:
    """``request`` with ``auth``'s headers; a 401 earns one refresh and one retry. The second
    answer is returned whatever it is: the caller reports a second 401 as refused credentials."""
    if auth is None:
        return await request(NO_HEADERS)
    sent = await auth.headers()
    response = await request(sent)
    if response.status != 401 or not await auth.refused(sent):
        return response
    response.release()
    return await request(await auth.headers())
