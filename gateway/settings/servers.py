"""Upstream servers: how each is started or reached, and restarted."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from gateway.settings.base import _Strict

SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class RestartSettings(_Strict):
    backoff_initial: float = Field(0.5, gt=0, description="first delay between restarts, seconds")
    backoff_max: float = Field(30.0, gt=0, description="cap on the delay between restarts")
    max_restarts: int = Field(5, ge=0, description="restarts allowed within `window`")
    window: float = Field(60.0, gt=0, description="seconds over which crashes are counted")


class TlsSettings(_Strict):
    """TLS towards one HTTP upstream. Relative paths are relative to the settings file."""

    ca_bundle: str | None = Field(None, description="PEM file of CAs to trust instead of the system's")
    client_cert: str | None = Field(None, description="PEM client certificate, for mutual TLS")
    client_key: str | None = Field(None, description="PEM key of client_cert, if not in that file")
    verify: bool = Field(True, description="verify the server's certificate and name")

    @model_validator(mode="after")
    def _coherent(self) -> TlsSettings:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("`client_key` needs `client_cert`; add the certificate or remove the key")
        if not self.verify and self.ca_bundle is not None:
            raise ValueError("`ca_bundle` has no effect with `verify = false`; remove one of them")
        return self


HTTP_ONLY_KEYS = ("transport", "timeout", "sse_read_timeout", "tls")


class ServerSettings(_Strict):
    """One upstream MCP server: a stdio ``command``, or an HTTP ``url``."""

    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field({}, description="sent with every request to this server only")
    transport: Literal["auto", "streamable-http", "sse"] = Field(
        "auto", description="HTTP transport; auto tries streamable HTTP, then 2024-11-05 HTTP+SSE"
    )
    timeout: float = Field(
        30.0, gt=0, description="seconds to connect, and for a whole non-streamed answer (POST to last byte)"
    )
    sse_read_timeout: float = Field(300.0, gt=0, description="seconds an SSE stream may stay silent")
    tls: TlsSettings | None = None
    session_mode: Literal["shared", "per_client"] = Field(
        "shared", description="one upstream session for all clients, or one per gateway session"
    )
    max_message_bytes: int = Field(64 * 1024 * 1024, gt=0, description="largest message accepted")
    prefix: str | None = Field(None, description="namespace of its tools and prompts")
    era: Literal["auto", "legacy", "modern"] = Field(
        "auto",
        description="protocol era: auto probes with server/discover and falls back to initialize; "
        "legacy always initializes (2025-11-25 and earlier); modern only speaks 2026-07-28",
    )
    start: Literal["lazy", "eager"] = "lazy"
    startup_timeout: float = Field(30.0, gt=0)
    restart: RestartSettings = RestartSettings()

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. https://mcp.example.com/mcp")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_ours(cls, value: dict[str, str]) -> dict[str, str]:
        from upstream.transports.http_support import MANAGED_HEADERS  # here: aiohttp is slow to import

        managed = sorted(name for name in value if name.lower() in MANAGED_HEADERS)
        if managed:
            raise ValueError(f"{', '.join(managed)}: the gateway sets these itself; remove them")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> ServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of `command` (a stdio server) or `url` (an HTTP server)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` apply to stdio servers; remove them or use `command`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` apply to HTTP servers; remove them or use `url`")
        if self.command is not None:
            misplaced = [key for key in HTTP_ONLY_KEYS if key in self.model_fields_set]
            if misplaced:
                keys = ", ".join(f"`{key}`" for key in misplaced)
                raise ValueError(f"{keys} apply to HTTP servers; remove them or use `url`")
        if self.era == "modern" and self.url is not None and self.transport == "sse":
            raise ValueError(
                '`era = "modern"` cannot use `transport = "sse"` (2024-11-05 HTTP+SSE has no 2026-07-28 '
                'requests); use transport "auto" or "streamable-http"'
            )
        if self.tls is not None and self.url is not None and not self.url.startswith("https://"):
            raise ValueError("`tls` applies to https:// URLs; use https:// or remove `tls`")
        return self
