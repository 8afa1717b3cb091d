"""What each part found: figures for the JSON file, and checks (pass/fail) for the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Part:
    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": self.checks, "figures": self.figures}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def render(parts: list[Part]) -> str:
    """A markdown table per part: every check, then the scalar figures."""
    lines = []
    for part in parts:
        lines += [
            f"\n## {part.name}: {'PASS' if part.passed else 'FAIL'}",
            "",
            "| check / figure | value |",
            "|---|---|",
        ]
        lines += [f"| {name} | {'ok' if ok else 'FAILED'} |" for name, ok in part.checks.items()]
        for name, value in part.figures.items():
            if not isinstance(value, dict | list) or (isinstance(value, list) and len(value) <= 4):
                lines.append(f"| {name} | {_short(value)} |")
            elif (
                isinstance(value, dict)
                and value
                and all(not isinstance(v, dict | list) for v in value.values())
            ):
                lines.append(f"| {name} | {_short(', '.join(f'{k}: {v}' for k, v in value.items()))} |")
    return "\n".join(lines) + "\n"
