"""The MCP-tier contract: what the router and every middleware share, with no I/O.

``scope`` holds the shape of one call (:class:`MCPScope`, :func:`make_scope`,
:func:`child_scope`, the ``state`` keys) and its events; ``jsonrpc`` the wire messages and
codes; ``errors`` the :class:`GatewayError` tree; ``http``, ``headers`` and ``param_headers``
the HTTP-side wire helpers. Everything a middleware needs is re-exported here.
"""

from middleware.protocol.errors import (
    ClientError,
    GatewayError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    PolicyError,
    TooLarge,
    Unauthorized,
    UpstreamFault,
    UpstreamProtocolError,
    UpstreamTimeout,
    error_for,
)
from middleware.protocol.jsonrpc import *  # noqa: F403
from middleware.protocol.jsonrpc import __all__ as _jsonrpc_all
from middleware.protocol.scope import *  # noqa: F403
from middleware.protocol.scope import __all__ as _scope_all
from middleware.protocol.trace_hooks import (
    STEP_TRACE,
    UPSTREAM_TRACE,
    Step,
    StepTrace,
    UpstreamTrace,
    traced_step,
)

__all__ = [  # noqa: PLE0604
    "ClientError",
    "GatewayError",
    "InvalidParams",
    "InvalidRequest",
    "MethodNotFound",
    "ParseError",
    "PolicyError",
    "TooLarge",
    "Unauthorized",
    "UpstreamFault",
    "UpstreamProtocolError",
    "UpstreamTimeout",
    "error_for",
    "STEP_TRACE",
    "UPSTREAM_TRACE",
    "Step",
    "StepTrace",
    "UpstreamTrace",
    "traced_step",
    *_jsonrpc_all,
    *_scope_all,
]
