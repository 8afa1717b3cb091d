"""The HTTP side: listening, sessions and routing (``[auth]`` is in ``auth.py``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from gateway.settings.auth import ApiKey, AuthSettings  # moved to settings/auth.py; importable here still
from gateway.settings.base import _Strict, redis_url

__all__ = ["ApiKey", "AuthSettings", "HttpSettings", "RoutingSettings", "SessionSettings"]


class HttpSettings(_Strict):
    """The HTTP listener: what a request may be, and the names it may be reached by."""

    max_body_bytes: int = Field(
        4 * 1024 * 1024, gt=0, description="largest request body; a bigger one gets 413 unread"
    )
    allowed_hosts: list[str] = Field(
        [], description="Host header values an ingress presents, e.g. 'mcp.example.com'"
    )
    allowed_origins: list[str] = Field([], description="browser origins allowed to call us")
    sse_keepalive: float = Field(15.0, gt=0, description="seconds between SSE keep-alive comments")
    max_json_depth: int = Field(
        64,
        ge=2,
        le=250,  # orjson writes at most 254 levels: a deeper message could not be forwarded
        description="deepest nesting of arrays and objects accepted in a client's message",
    )


class SessionSettings(_Strict):
    """Gateway sessions of legacy-era clients, and the ``requestState`` of 2026-07-28 retries."""

    idle_timeout: float = Field(3600.0, gt=0, description="seconds before an idle session ends")
    max_sessions: int = Field(
        100_000, gt=0, description="open sessions at once (on every replica with Redis)"
    )
    store: Literal["auto", "memory", "redis"] = Field(
        "auto",
        description="where session records live: redis (any replica serves any session; needs "
        "[redis] url), memory (this replica only: a load balancer must keep each client on one), "
        "auto (redis when [redis] url is set)",
    )
    request_state_key: str | None = Field(
        None,
        min_length=32,
        description="secret that MACs the requestState of 2026-07-28 retries; replicas behind one "
        "load balancer must share it (when unset: made once and shared through Redis when sessions "
        "are shared, else random per process)",
    )
    request_state_lifetime: float = Field(
        300.0, gt=0, description="seconds a 2026-07-28 client has to retry a call that needs its input"
    )
    max_waiting_calls: int = Field(
        64,
        gt=0,
        description="calls of one principal that may wait for a 2026-07-28 client's input at once "
        "(each holds an upstream call open)",
    )
    request_state_ledger: str | None = Field(
        None,
        description="redis:// URL where replicas record spent requestState tokens, so none is "
        "used twice across replicas (when unset: the [redis] url when sessions are shared, else "
        "this process's memory)",
    )

    @field_validator("request_state_ledger")
    @classmethod
    def _ledger_is_redis(cls, value: str | None) -> str | None:
        return redis_url(value)


class RoutingSettings(_Strict):
    """How the servers are merged into one: names, pages, and patience with lazy servers."""

    separator: str = Field(
        "__", min_length=1, max_length=8, description="between a server's prefix and a tool or prompt name"
    )
    page_size: int = Field(100, ge=1, le=10_000, description="items per page of merged lists")
    start_patience: float = Field(
        1.5, ge=0, le=60, description="seconds a merged list or initialize waits for lazy servers to start"
    )
    snapshot_max_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="memory superseded list snapshots may hold, per list"
    )
    snapshot_max_age: float = Field(
        300.0, gt=0, description="seconds a cursor into a superseded list stays valid"
    )

    @field_validator("separator")
    @classmethod
    def _tool_name_safe(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.\-/]+$", value):
            raise ValueError("use characters allowed in MCP tool names: letters, digits, _ - . /")
        return value
