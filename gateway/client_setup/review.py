"""Showing a change before it is made, with every key masked, and asking for the go-ahead."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from typing import TextIO

MASK = "********"
_SECRETS = (
    re.compile(r"(Bearer\s+)([^\"\s\\]+)"),
    re.compile(r"(\"PORTCULLIS_API_KEY\"\s*:\s*\")([^\"\\]+)"),
)


def mask(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the given secrets, bearer tokens and ``PORTCULLIS_API_KEY`` values hidden."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    for pattern in _SECRETS:
        text = pattern.sub(lambda found: found.group(1) + MASK, text)
    return text


def diff(old: str | None, new: str, where: str, secrets: Iterable[str | None] = ()) -> str:
    """A unified diff from ``old`` (None: no file yet) to ``new``, safe to print."""
    hidden = list(secrets)
    before = mask(old, hidden).splitlines(keepends=True) if old is not None else []
    after = mask(new, hidden).splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, where if old is not None else "/dev/null", where)
    ending = "\n\\ No newline at end of file\n"
    return "".join(line if line.endswith("\n") else line + ending for line in lines)


def approve(question: str, *, dry_run: bool, yes: bool, stdin: TextIO | None = None) -> int | None:
    """None to go ahead; otherwise the exit code to stop with (0 dry run, 1 declined, 2 cannot ask)."""
    stdin = stdin or sys.stdin
    if dry_run:
        print("dry run: nothing written")
        return 0
    if yes:
        return None
    if not stdin.isatty():
        print(
            "portcullis: not asking on a non-interactive input; pass --yes to write without asking, "
            "or --dry-run to only see the change",
            file=sys.stderr,
        )
        return 2
    print(f"{question} [y/N] ", end="", flush=True)
    answer = stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return None
    print("nothing written")
    return 1
