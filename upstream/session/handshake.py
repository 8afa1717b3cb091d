"""Opening a connection in the upstream's era: ``initialize`` for the initialize era, or
``server/discover`` and a :class:`~upstream.session.modern.ModernSession` for 2026-07-28 (see
:mod:`upstream.session.era` for how ``auto`` tells them apart)."""

from __future__ import annotations

import logging
from typing import Any

from middleware.protocol import UNSUPPORTED_PROTOCOL_VERSION, Message
from upstream.errors import HandshakeRefused, UpstreamError
from upstream.session.connection import CLIENT_CAPABILITIES, ServerIdentity, UpstreamConnection
from upstream.session.era import (
    HANDSHAKE_VERSIONS,
    Discover,
    Era,
    ModernRefusal,
    NotModern,
    discover,
    modern_meta,
    mutual_version,
    server_info_of,
)
from upstream.session.modern import ModernSession
from upstream.session.renewal import SessionRenewal

log = logging.getLogger("portcullis.upstream")


async def open_session(
    connection: UpstreamConnection,
    *,
    era: Era,
    client_info: dict[str, Any],
    probe_timeout: float | None,
) -> ServerIdentity:
    """Connect and speak the era's opening; the connection is ready for calls afterwards."""
    await connection.connect()
    if era == "legacy":
        return await initialize(connection, client_info)
    patience = probe_timeout
    for _ in range(2):
        try:
            version, result = await discover(connection.name, _discoverer(connection, client_info), patience)
        except ModernRefusal as exc:
            raise UpstreamError(connection.name, exc.reason) from None
        except NotModern as exc:
            if era == "modern":
                raise UpstreamError(
                    connection.name,
                    f'is not a 2026-07-28 server: it {exc.reason} (era = "modern"); set era = "auto" '
                    'or "legacy" for a server that needs initialize',
                ) from None
            log.info("[%s] %s; using initialize", connection.name, exc.reason)
            try:
                return await initialize(connection, client_info)
            except HandshakeRefused as refused:
                if not _names_modern_versions(refused.error):
                    raise
                # A discover we stopped waiting for was answered after all, and made the (dual-era)
                # server's process modern: ask again, waiting as long as the start allows.
                log.info("[%s] refused initialize for a modern version; probing again", connection.name)
                patience = None
                continue
        adopt_modern(connection, version, result, client_info)
        assert connection.identity is not None
        return connection.identity
    raise UpstreamError(connection.name, "neither answered server/discover as modern nor accepted initialize")


def adopt_modern(
    connection: UpstreamConnection, version: str, result: dict[str, Any], client_info: dict[str, Any]
) -> None:
    capabilities = result.get("capabilities")
    identity = ServerIdentity(
        protocol_version=version,
        capabilities=dict(capabilities) if isinstance(capabilities, dict) else {},
        server_info=server_info_of(result),
        instructions=result.get("instructions") if isinstance(result.get("instructions"), str) else None,
    )
    session = ModernSession(
        connection.name,
        lambda method, params, channel, headers: connection.send_request(
            method, params, channel=channel, headers=headers
        ),
        version=version,
        client_info=client_info,
        server_capabilities=identity.capabilities,
        on_notification=connection.deliver_unsolicited,
    )
    connection.adopt(identity, session)


def _initialize_params(client_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocolVersion": HANDSHAKE_VERSIONS[0],
        "capabilities": CLIENT_CAPABILITIES,
        "clientInfo": client_info,
    }


async def initialize(connection: UpstreamConnection, client_info: dict[str, Any]) -> ServerIdentity:
    """The initialize handshake, declaring what we can relay; it is run again (see
    :mod:`upstream.session.renewal`) when the upstream forgets the session."""
    response = await connection.send_request("initialize", _initialize_params(client_info))
    error = response.get("error")
    if isinstance(error, dict):
        raise HandshakeRefused(connection.name, error)
    result = response.get("result") or {}
    version = result.get("protocolVersion")
    if version not in HANDSHAKE_VERSIONS:
        raise UpstreamError(connection.name, f"answered initialize with unsupported version {version!r}")
    identity = ServerIdentity(
        protocol_version=version,
        capabilities=dict(result.get("capabilities") or {}),
        server_info=dict(result.get("serverInfo") or {}),
        instructions=result.get("instructions"),
    )
    connection.adopt(identity)
    await connection.notify("notifications/initialized")
    connection.renewal = SessionRenewal(connection.name, lambda: _reinitialize(connection, client_info))
    return identity


async def _reinitialize(connection: UpstreamConnection, client_info: dict[str, Any]) -> None:
    """A new session for one the upstream forgot: the same initialize, then initialized."""
    response = await connection.send_request("initialize", _initialize_params(client_info))
    result = response.get("result")
    if not isinstance(result, dict):
        reason = (response.get("error") or {}).get("message", "no result")
        raise UpstreamError(connection.name, f"refused a new initialize: {reason}")
    version = result.get("protocolVersion")
    old = connection.identity.protocol_version if connection.identity is not None else None
    if version != old:
        log.warning("[%s] the new session speaks protocol %s, not %s", connection.name, version, old)
    await connection.notify("notifications/initialized")


def _discoverer(connection: UpstreamConnection, client_info: dict[str, Any]) -> Discover:
    async def send(version: str, patience: float | None) -> Message | None:
        params = {"_meta": modern_meta(version, client_info, CLIENT_CAPABILITIES)}
        try:
            return await connection.send_request("server/discover", params, patience=patience)
        except TimeoutError:
            return None

    return send


def _names_modern_versions(error: dict[str, Any]) -> bool:
    data = error.get("data")
    return (
        error.get("code") == UNSUPPORTED_PROTOCOL_VERSION
        and isinstance(data, dict)
        and mutual_version(data.get("supported")) is not None
    )
