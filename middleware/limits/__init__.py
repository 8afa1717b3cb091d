"""Keep what flows back to a client bounded: coalesced progress, and limits on results."""

from middleware.limits.progress import ProgressThrottle

__all__ = ["ProgressThrottle"]
