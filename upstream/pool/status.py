"""What a server's supervisor says about it: a state and a short reason anyone may read.

/healthz needs no key, so a reason shown there comes from a fixed vocabulary (an exit code,
a signal, "command not found") and never from the raw error, which can hold a command line,
a path or a URL with credentials; the raw error goes to the gateway's log instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ServerState = Literal["not started", "starting", "running", "restarting", "failed"]

COMMAND_NOT_FOUND = "its command was not found"
COMMAND_NOT_EXECUTABLE = "its command is not executable"

_SAFE = re.compile(
    r"exited with code -?\d+|was killed by SIG[A-Z0-9]+|closed its stdout"
    r"|did not finish its handshake within [\d.]+s|is crash-looping"
)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    state: ServerState
    detail: str | None = None
    """The last exit (restarting) or why it failed (failed), from :func:`public_reason`."""

    def as_json(self) -> dict[str, str]:
        shown: dict[str, str] = {"state": self.state}
        if self.detail is not None:
            shown["last_exit" if self.state == "restarting" else "reason"] = self.detail
        return shown


def public_reason(error: BaseException | str) -> str:
    """A reason safe to show anyone: the kind of OS error behind ``error``, or the part of its
    text that is an exit, a signal or a timeout; else a pointer to the log."""
    if isinstance(error, BaseException):
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, FileNotFoundError):
                return COMMAND_NOT_FOUND
            if isinstance(cause, PermissionError):
                return COMMAND_NOT_EXECUTABLE
            cause = cause.__cause__
        error = str(error)
    found = _SAFE.search(error)
    return found.group(0) if found else "see the gateway log"
