"""What one call through an upstream connection carries: the way back to its client
(:class:`CallChannel`), its bookkeeping while in flight (:class:`Pending`), and what the
server said about itself (:class:`ServerIdentity`). Split from the connection so the modern
path and the listener can name them without the connection's machinery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from middleware.protocol import Message

if TYPE_CHECKING:
    from upstream.session.outbox import Outbox

NotificationSink = Callable[[str, Message], None]
"""Receives upstream notifications not tied to a call: (server name, message)."""


class CallChannel(Protocol):
    """The way back to the client of one call: related notifications, and questions
    (server-to-client requests) whose answers go back upstream."""

    @property
    def client_capabilities(self) -> dict[str, Any]:
        """What the client declared; a modern upstream gets them in each request's ``_meta``."""
        ...

    @property
    def speaks_mrtr(self) -> bool:
        """True when the client is modern and answers ``input_required`` itself: a modern
        upstream's ``input_required`` result then goes to it as is, instead of being asked
        question by question through :meth:`ask`."""
        ...

    @property
    def waiting_on_client(self) -> bool:
        """True while the call is parked until its client retries (MRTR): the call cannot be
        the one asking a new question, so it is not a candidate when a shared stdio session
        must guess which call a server request belongs to."""
        ...

    @property
    def log_level(self) -> str | None:
        """The least severe log level the client wants for this call, if it said."""
        ...

    async def notify(self, message: Message) -> None: ...

    async def ask(self, request: Message) -> Message:
        """Relay ``request`` to the client; returns its response (``result`` or ``error``)."""
        ...


CLIENT_CAPABILITIES: Final = {
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
    "roots": {"listChanged": True},
}
"""Declared upstream because we relay them; a client that lacks one gets a clear error."""


@dataclass(slots=True)
class Pending:
    future: asyncio.Future[Message]
    channel: CallChannel | None
    client_token: Any
    listen: bool = False
    """A ``subscriptions/listen`` stream: it is in flight for good, and logs nothing."""
    message: Message | None = None
    """As sent, to send again once after the upstream forgot our session."""
    headers: Mapping[str, str] | None = None
    retried: bool = False
    outbox: Outbox | None = None
    """The call's notifications on their way to its client, once it has any."""


class ModernPath(Protocol):
    """How requests reach a 2026-07-28 upstream (see :mod:`upstream.session.modern`)."""

    version: str

    async def request(
        self, method: str, params: dict[str, Any] | None, channel: CallChannel | None
    ) -> Message: ...

    def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What the upstream said about itself at initialize, or in its ``server/discover`` result."""

    protocol_version: str
    capabilities: dict[str, Any]
    server_info: dict[str, Any]
    instructions: str | None
