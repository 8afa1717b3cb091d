"""Who may see and call which servers, tools, prompts and resources (filled by issue 12)."""

from __future__ import annotations

from gateway.settings.base import _Strict


class PolicyRule(_Strict):
    name: str
