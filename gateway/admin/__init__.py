"""The admin REST API (issue 13): its own listener, credential and OpenAPI document.

It is a second uvicorn server in the gateway's process, started and stopped by the gateway's
lifespan (:mod:`gateway.admin.server`), so it shares the live objects it administers (supervisors,
sessions, plugins) and never shares a port, a middleware stack or a credential with ``/mcp``.
"""

from gateway.admin.ports import AdminParts, AdminTarget, CacheControl, ConfigReloader, TimeoutMetrics
from gateway.admin.server import AdminServer, admin_listener

__all__ = [
    "AdminParts",
    "AdminServer",
    "AdminTarget",
    "CacheControl",
    "ConfigReloader",
    "TimeoutMetrics",
    "admin_listener",
]
