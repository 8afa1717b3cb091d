"""Tenancy declared as code: projects, their users and the users' API keys (filled by issue 12)."""

from __future__ import annotations

from gateway.settings.base import _Strict


class ProjectSettings(_Strict):
    servers: list[str] = ["*"]


class UserSettings(_Strict):
    project: str | None = None
    roles: list[str] = []
