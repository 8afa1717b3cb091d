"""Caches of lists, reads and read-only tool results (issue 13).

Every duration is in seconds. An upstream's own ``ttlMs`` always wins over the ``*_ttl`` here
(0 means "do not reuse"); ``max_ttl`` caps both.
"""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import _Strict


class CacheSettings(_Strict):
    """Caches of lists, resource reads and read-only tool results."""

    lists: bool = Field(True, description="reuse each server's tools/prompts/resources lists while fresh")
    list_ttl: float = Field(
        30.0, ge=0, description="seconds a server's list is reused when the server states no ttlMs"
    )
    unannounced_list_ttl: float = Field(
        1.0,
        ge=0,
        description="seconds instead, for a server that does not announce list changes: a silent "
        "change of its tools (a rug pull) shows within this long",
    )
    reads: bool = Field(True, description="cache resources/read answers for as long as their ttlMs allows")
    read_ttl: float = Field(
        0.0,
        ge=0,
        description="seconds a read is reused when the server states no ttlMs (0: such reads are not "
        "cached, as the spec says an answer without ttlMs is stale at once)",
    )
    tool_results: bool = Field(
        False, description="cache results of tools annotated readOnlyHint and idempotentHint"
    )
    tool_result_ttl: float = Field(60.0, ge=0, description="seconds a read-only tool result is reused")
    max_ttl: float = Field(3600.0, ge=0, description="no cached answer is reused longer than this")
    max_entries: int = Field(10_000, ge=1, description="entries kept in memory (least recently used go)")
    max_bytes: int = Field(64 * 1024 * 1024, ge=1, description="bytes kept in memory, all entries together")
    max_entry_bytes: int = Field(1024 * 1024, ge=1, description="a bigger answer is not cached")
