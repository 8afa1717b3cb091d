"""What an upstream must be told again and again: the log level its sessions want, and (after
a restart) the subscriptions it forgot."""

from __future__ import annotations

import logging

from middleware.protocol import is_modern
from upstream.errors import UpstreamError
from upstream.pool.supervisor import Supervisor
from upstream.routing.interest import Interest

log = logging.getLogger("portcullis.router")


async def apply_log_level(supervisor: Supervisor, interest: Interest, session_id: str | None) -> None:
    """Tell a running upstream that logs the level its sessions want: the calling
    session's own for a per-client server, the most verbose of all for a shared one."""
    if supervisor.spec.per_client:
        level = interest.level_of(session_id) if session_id else None
    else:
        level = interest.upstream_log_level()
    identity = supervisor.identity
    # A modern upstream takes the level in each request's _meta (its connection keeps it).
    if level is None or identity is None:
        return
    if "logging" not in identity.capabilities and not is_modern(identity.protocol_version):
        return
    try:
        connection = await supervisor.connection(session_id)
        await connection.request("logging/setLevel", {"level": level})
    except UpstreamError as exc:
        log.warning("%s; its log level stays as it was", exc)


async def restore_interest(supervisor: Supervisor, interest: Interest) -> None:
    """After a restart the shared upstream forgot everything: set the level and resubscribe."""
    if supervisor.spec.per_client:
        return
    await apply_log_level(supervisor, interest, None)
    for uri in interest.subscriptions_of(supervisor.name):
        try:
            connection = await supervisor.connection()
            await connection.request("resources/subscribe", {"uri": uri})
        except UpstreamError as exc:
            log.warning("%s; could not resubscribe to %s", exc, uri)
