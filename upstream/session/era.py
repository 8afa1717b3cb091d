"""Which era an upstream speaks: 2026-07-28 ("modern": version and capabilities on every request,
no handshake) or the initialize era ("legacy").

``auto`` follows the spec's backward-compatibility probe: send ``server/discover`` with modern
``_meta``; a ``DiscoverResult`` listing a modern version we speak means modern. A recognized
modern error (-32022 naming versions) means modern at another version, or legacy when it names
only handshake versions. Anything else — another error, an HTTP 4xx without a modern JSON-RPC
body (the transport turns it into an error answer), or silence on stdio past a short timeout —
means legacy: run ``initialize``. A dual-era stdio server locks the era of its process on the
first request it answers, so a discover that was answered only after we gave up makes the
``initialize`` that follows fail with -32022; that names the versions, so we probe once more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from middleware.protocol import (
    HEADER_MISMATCH,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    MISSING_CLIENT_CAPABILITY,
    MODERN_VERSIONS,
    UNSUPPORTED_PROTOCOL_VERSION,
    Message,
)

log = logging.getLogger("portcullis.upstream")

Era = Literal["auto", "legacy", "modern"]
PROBE_TIMEOUT: Final = 5.0
"""How long a stdio server may stay silent on ``server/discover`` before we take it for legacy."""
MODERN_ERRORS: Final = frozenset({HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION})
"""Error codes only a modern server answers with: evidence of the era, never a reason to fall back."""
HANDSHAKE_VERSIONS: Final = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
"""Versions we can speak to an upstream in the initialize era, newest first."""


class NotModern(Exception):
    """The probe says legacy; ``reason`` says why (for the log, or for era = "modern")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModernRefusal(Exception):
    """A modern server that we cannot speak to: a disjoint version list, or a modern error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def modern_meta(version: str, client_info: dict[str, Any], capabilities: dict[str, Any]) -> dict[str, Any]:
    """The per-request ``_meta`` keys every modern request carries."""
    return {
        META_PROTOCOL_VERSION: version,
        META_CLIENT_INFO: client_info,
        META_CLIENT_CAPABILITIES: capabilities,
    }


def mutual_version(supported: Any) -> str | None:
    """The newest modern version both we and the server speak."""
    offered = supported if isinstance(supported, list) else []
    return next((v for v in MODERN_VERSIONS[::-1] if v in offered), None)


def judge_discover(answer: Message | None, version: str) -> tuple[str, dict[str, Any]]:
    """What one ``server/discover`` answer says: ``(version, result)`` when the server is modern
    at ``version``. Raises :class:`NotModern` (fall back to initialize), :class:`ModernRefusal`
    (modern, but not with us), or returns ``(other_version, {})`` to ask again at a mutual one."""
    if answer is None:
        raise NotModern("did not answer server/discover in time")
    error = answer.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        assert isinstance(data, dict)
        if code == UNSUPPORTED_PROTOCOL_VERSION and isinstance(data.get("supported"), list):
            mutual = mutual_version(data["supported"])
            if mutual is not None and mutual != version:
                return mutual, {}
            if any(v in HANDSHAKE_VERSIONS for v in data["supported"]):
                raise NotModern(f"supports only {data['supported']} of the versions we asked for")
            raise ModernRefusal(
                f"speaks only protocol versions {data['supported']}, none of which the gateway speaks "
                f"({', '.join(MODERN_VERSIONS)} or {', '.join(HANDSHAKE_VERSIONS)})"
            )
        if code in MODERN_ERRORS:
            raise ModernRefusal(f"refused server/discover with a modern error {code}: {error.get('message')}")
        raise NotModern(f"answered server/discover with error {code}: {error.get('message')}")
    result = answer.get("result")
    if not isinstance(result, dict):
        raise NotModern("answered server/discover without a result")
    chosen = mutual_version(result.get("supportedVersions"))
    if chosen is None:
        raise NotModern(f"lists no modern version in server/discover ({result.get('supportedVersions')!r})")
    return chosen, result


def server_info_of(result: dict[str, Any]) -> dict[str, Any]:
    meta = result.get("_meta")
    info = meta.get(META_SERVER_INFO) if isinstance(meta, dict) else None
    return dict(info) if isinstance(info, dict) else {}


Discover = Callable[[str, float | None], Awaitable[Message | None]]
"""Sends ``server/discover`` at a version, waiting at most that long (None: no answer in time)."""


async def discover(name: str, send: Discover, patience: float | None) -> tuple[str, dict[str, Any]]:
    """Probe until the server's era is known; ``(version, DiscoverResult)`` when modern."""
    version = MODERN_VERSIONS[-1]
    for _ in range(2):
        chosen, result = judge_discover(await send(version, patience), version)
        if result:
            log.info("[%s] speaks %s (server/discover)", name, chosen)
            return chosen, result
        version = chosen
    raise ModernRefusal("kept answering server/discover with -32022 for versions it listed as supported")


class EraMemory:
    """The era an HTTP origin was found to speak, so the next session there skips a probe that
    would fail; forgotten when that assumption fails. Stdio servers are probed per process."""

    def __init__(self, configured: Era, *, remember: bool) -> None:
        self._configured = configured
        self._remember = remember
        self._known: Era | None = None

    def next_era(self) -> Era:
        return self._known or self._configured

    def learned(self, modern: bool) -> None:
        if self._remember and self._configured == "auto":
            self._known = "modern" if modern else "legacy"

    def forget(self) -> None:
        self._known = None
