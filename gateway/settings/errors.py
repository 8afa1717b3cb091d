"""The one error settings raise when they cannot be used (here so every settings module can)."""

from __future__ import annotations


class SettingsError(Exception):
    """Settings that cannot be used; ``problems`` lists one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems
