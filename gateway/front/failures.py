"""The one place where an exception raised inside the MCP tier becomes the client's answer.

A :class:`GatewayError` says its own code, fault and message; anything else is a bug of ours,
logged with its traceback and answered as the gateway's fault without any detail (the detail
might carry a secret or another caller's data).
"""

from __future__ import annotations

import logging

from middleware.protocol import GatewayError, MCPScope, Message, error_for

log = logging.getLogger("portcullis.front")


def failure_message(scope: MCPScope, exc: BaseException) -> Message:
    """The JSON-RPC error answering ``scope``'s request that failed with ``exc``."""
    if not isinstance(exc, GatewayError):
        log.error("MCP call %s failed inside the gateway", scope["method"], exc_info=exc)
    return error_for(exc).to_message(scope["id"])
