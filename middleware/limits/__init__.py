"""Keep what flows back to a client bounded: coalesced progress, and limits on results."""

from middleware.limits.progress import ProgressThrottle
from middleware.limits.results import ResultLimits, ResultTooLarge
from middleware.protocol.measure import Excess, measure

__all__ = ["Excess", "ProgressThrottle", "ResultLimits", "ResultTooLarge", "measure"]
