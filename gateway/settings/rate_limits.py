"""How often and how many at once: token buckets and concurrency caps (filled by issue 12)."""

from __future__ import annotations

from gateway.settings.base import _Strict


class RateLimitSettings(_Strict):
    name: str
