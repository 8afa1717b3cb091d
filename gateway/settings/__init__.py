"""Settings: one ``settings.toml``, every key overridable by a ``PORTCULLIS_…`` variable.

Nested keys use ``__`` in variable names: ``PORTCULLIS_PORT=9000``,
``PORTCULLIS_AUTH__ENABLED=false``, ``PORTCULLIS_SERVERS__DEMO__COMMAND=python``.
Invalid settings fail before anything starts, with messages that name the key and the fix.

The package splits them by table: ``servers`` (upstreams), ``http`` (listening, keys, sessions,
routing), ``stack`` (middleware and logging), ``model`` (the whole document) and ``loading``
(finding, reading and explaining errors); everything is importable from ``gateway.settings``.
"""

from gateway.settings.errors import SettingsError
from gateway.settings.http import (
    ApiKey,
    AuthSettings,
    HttpSettings,
    RoutingSettings,
    SessionSettings,
)
from gateway.settings.loading import (
    DEFAULT_SETTINGS_FILE,
    SETTINGS_ENV,
    command_problems,
    explain,
    find_settings_file,
    is_loopback,
    load_settings,
)
from gateway.settings.model import Settings
from gateway.settings.servers import HTTP_ONLY_KEYS, SERVER_NAME, RestartSettings, ServerSettings, TlsSettings
from gateway.settings.stack import DEFAULT_MIDDLEWARE, LoggingSettings, MiddlewareSettings, PluginsSettings

__all__ = [
    "DEFAULT_MIDDLEWARE",
    "DEFAULT_SETTINGS_FILE",
    "HTTP_ONLY_KEYS",
    "SERVER_NAME",
    "SETTINGS_ENV",
    "ApiKey",
    "AuthSettings",
    "HttpSettings",
    "LoggingSettings",
    "MiddlewareSettings",
    "PluginsSettings",
    "RestartSettings",
    "RoutingSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SettingsError",
    "TlsSettings",
    "command_problems",
    "explain",
    "find_settings_file",
    "is_loopback",
    "load_settings",
]
