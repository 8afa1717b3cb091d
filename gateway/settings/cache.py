"""Caches of lists, reads and read-only tool results (issue 13)."""

from __future__ import annotations

from gateway.settings.base import _Strict


class CacheSettings(_Strict):
    pass
