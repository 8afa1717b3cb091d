"""The audit trail's file sink: JSON lines, appended, owner-only (0600), rotated by size.

A rotating handler whose files are created 0600 and tightened to 0600 if they already exist:
the trail names principals and targets, which is nobody else's business on the host. Each line
is written with one ``write`` on a file opened for appending, so lines from concurrent writers
do not interleave within a line.
"""

from __future__ import annotations

import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from typing import Final

MODE: Final = 0o600


def _owner_only(path: str, flags: int) -> int:
    fd = os.open(path, flags, MODE)
    os.fchmod(fd, MODE)
    return fd


class AuditFile(RotatingFileHandler):
    """``path`` rotated at ``max_bytes`` (0: never) into ``backups`` numbered files."""

    def __init__(self, path: str, *, max_bytes: int = 0, backups: int = 5) -> None:
        super().__init__(
            path, mode="a", maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=False
        )

    def _open(self) -> TextIOWrapper:
        return open(self.baseFilename, "a", encoding="utf-8", opener=_owner_only)
