"""The 2026-07-28 request headers that mirror the body: ``MCP-Protocol-Version``,
``Mcp-Method``, ``Mcp-Name``.

Intermediaries route and rate-limit on these headers, so a request whose headers disagree
with its body is refused before anyone acts on either. The gateway checks them on its front
(as a server) and writes them towards modern upstreams (as a client).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final

META_PROTOCOL_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
NAMED_METHODS: Final = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
"""Methods whose ``Mcp-Name`` mirrors a param, and which param."""

_SAFE: Final = re.compile(r"^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$")
_SENTINEL: Final = re.compile(r"^=\?base64\?(?P<data>.*)\?=$")


class HeaderMismatch(ValueError):
    """A required header is missing, malformed, or disagrees with the body (-32020)."""


def encode_value(value: str) -> str:
    """A header value for ``value``: as is when it is plain visible ASCII, else the Base64
    sentinel form (also for plain values that look like the sentinel)."""
    if _SAFE.match(value) and not _SENTINEL.match(value):
        return value
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


def decode_value(raw: str) -> str:
    sentinel = _SENTINEL.match(raw)
    if sentinel is None:
        if raw and not _SAFE.match(raw):
            raise HeaderMismatch("header value contains characters not allowed in HTTP headers")
        return raw
    try:
        return base64.b64decode(sentinel["data"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise HeaderMismatch("header value is not valid Base64 sentinel encoding") from None


def request_headers(message: Mapping[str, Any], protocol_version: str) -> dict[str, str]:
    """The mirrored headers a modern client sends with ``message``."""
    headers = {"MCP-Protocol-Version": protocol_version, "Mcp-Method": str(message["method"])}
    field = NAMED_METHODS.get(str(message["method"]))
    params = message.get("params") or {}
    if field is not None and isinstance(params.get(field), str):
        headers["Mcp-Name"] = encode_value(params[field])
    return headers


def check_request(headers: Mapping[str, str], message: Mapping[str, Any]) -> None:
    """Raise :class:`HeaderMismatch` unless the mirrored headers agree with ``message``.

    ``headers`` has lower-case names. The version header is compared with the body's
    ``_meta``; whether the version is supported is the caller's question (-32022).
    """
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    assert isinstance(params, dict)
    meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
    assert isinstance(meta, dict)

    version = headers.get("mcp-protocol-version")
    if version is None:
        raise HeaderMismatch("the MCP-Protocol-Version header is required")
    body_version = meta.get(META_PROTOCOL_VERSION)
    if version != body_version:
        raise HeaderMismatch(
            f"MCP-Protocol-Version header {version!r} does not match _meta {META_PROTOCOL_VERSION} "
            f"{body_version!r}"
        )

    method = headers.get("mcp-method")
    if method is None:
        raise HeaderMismatch("the Mcp-Method header is required")
    if method != message.get("method"):
        raise HeaderMismatch(
            f"Mcp-Method header {method!r} does not match body method {message.get('method')!r}"
        )

    field = NAMED_METHODS.get(method)
    if field is None:
        return
    raw_name = headers.get("mcp-name")
    if raw_name is None:
        raise HeaderMismatch(f"the Mcp-Name header is required for {method}")
    name = decode_value(raw_name)
    if name != params.get(field):
        raise HeaderMismatch(f"Mcp-Name header {name!r} does not match body {field} {params.get(field)!r}")
