"""Telemetry providers receive the gateway's log records: a handler on the ``portcullis``
loggers passes each record to the logger every provider made with ``create_logger``. (Spans and
metrics reach them once the gateway has its own, in the observability issue.)"""

from __future__ import annotations

import logging
from typing import Any

LOGGER_NAME = "portcullis-telemetry"
"""The name each provider's logger is asked for: outside the ``portcullis`` tree, so that what
it logs does not come back here."""


class ProviderLogHandler(logging.Handler):
    def __init__(self, providers: list[Any]) -> None:
        super().__init__()
        self.loggers = [provider.create_logger(LOGGER_NAME) for provider in providers]
        self._forwarding = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._forwarding:  # a provider's logger that logs into ours: once is enough
            return
        self._forwarding = True
        try:
            for logger in self.loggers:
                if isinstance(logger, logging.Logger) and logger.isEnabledFor(record.levelno):
                    logger.handle(record)
        except Exception:  # boundary: a provider's logger must not break logging
            self.handleError(record)
        finally:
            self._forwarding = False


def attach(providers: list[Any]) -> ProviderLogHandler:
    """Start forwarding ``portcullis`` records to the providers' loggers."""
    handler = ProviderLogHandler(providers)
    logging.getLogger("portcullis").addHandler(handler)
    return handler
