"""The JSON-RPC envelope check every upstream message passes, whatever its transport.

A few type checks and dict lookups per message, no schema: enough that nothing above the
transports ever meets a response without a proper ``result`` or ``error``, a ``jsonrpc`` other
than "2.0", or a value that is not an object. A malformed answer to one of our requests becomes
an upstream-fault error for that request; what cannot be tied to a request raises
:class:`ProtocolViolation`, and the transport decides what that costs (stdio: the session).
"""

from __future__ import annotations

from typing import Any

from middleware.protocol import Message
from upstream.errors import ProtocolViolation, UpstreamBrokeProtocol


def envelope_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a JSON-RPC 2.0 message from a server, or None."""
    if type(value) is not dict:
        return f"sent {_kind(value)} where a JSON-RPC message (an object) belongs"
    if value.get("jsonrpc") != "2.0":
        return f'sent a message whose "jsonrpc" is {_shown(value.get("jsonrpc"))}, not "2.0"'
    if "method" in value:
        if type(value["method"]) is not str:
            return 'sent a message whose "method" is not a string'
        if "id" in value and not is_id(value["id"]):
            return "sent a request whose id is neither a string nor an integer"
        if "params" in value and type(value["params"]) is not dict:
            return f'sent a {_shown(value["method"])} message whose "params" is {_kind(value["params"])}'
        return None
    if "id" not in value:
        return "sent a message that is neither a request, a notification nor a response"
    if "result" in value:
        if "error" in value:
            return 'answered with both "result" and "error"'
        if type(value["result"]) is not dict:
            return f'answered with a "result" that is {_kind(value["result"])}, not an object'
        return None
    if "error" not in value:
        return 'answered with neither "result" nor "error"'
    error = value["error"]
    if type(error) is not dict:
        return f'answered with an "error" that is {_kind(error)}, not an object'
    if type(error.get("code")) is not int:
        return 'answered with an "error" whose "code" is not an integer'
    if type(error.get("message")) is not str:
        return 'answered with an "error" whose "message" is not a string'
    return None


def screen(value: Any, server: str) -> Message:
    """``value`` if it is a well-formed message; a malformed answer to a request is replaced by
    an upstream-fault error for that request; anything else raises :class:`ProtocolViolation`."""
    problem = envelope_problem(value)
    if problem is None:
        message: Message = value
        return message
    request_id = value.get("id") if type(value) is dict and "method" not in value else None
    if is_id(request_id):
        return UpstreamBrokeProtocol(server, problem).to_message(request_id)
    raise ProtocolViolation(problem)


def is_id(value: Any) -> bool:
    """A usable JSON-RPC id: a string or an integer (not a boolean, not null)."""
    return type(value) is int or type(value) is str


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "an array"}
    return kinds.get(type(value), "an object" if isinstance(value, dict) else type(value).__name__)


def _shown(value: Any) -> str:
    """A short rendering of a server-chosen value, for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
