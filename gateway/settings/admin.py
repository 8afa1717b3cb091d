"""The admin REST API: its own listener and credential, off by default (issue 13)."""

from __future__ import annotations

from gateway.settings.base import _Strict


class AdminSettings(_Strict):
    pass
