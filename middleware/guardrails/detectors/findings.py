"""What a detector reports: where in the text, what kind, and why — never the value itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection in one scanned string.

    ``start``/``end`` delimit the matched span (``[start, end)``) so a redactor can replace just
    that part; a detector that judges the whole text reports ``0, len(text)``. ``reason`` is a
    short sentence for the audit log and the client's message: it must never contain the value.
    """

    detector: str  # "pii" | "secrets" | "injection" | "poisoning" | "ssrf" | "path" | "command"
    kind: str  # subtype, e.g. "email", "aws_key", "role_marker", "metadata_host"
    start: int
    end: int
    reason: str
