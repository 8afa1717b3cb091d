"""Enkrypt-style providers: auth, guardrail and telemetry, with the seed's interfaces.

Configured in settings.toml as ``[plugins.auth]``, ``[plugins.guardrails]`` and
``[plugins.telemetry]`` (``provider = "package.module:Class"``, ``config = {...}``; a list of
such tables for several). A provider written for Enkrypt's gateway runs with only its import
lines changed to ``from middleware.providers import ...``.
"""

from middleware.providers.loading import ProviderError, construct
from middleware.providers.models import (
    AuthCredentials,
    AuthMethod,
    AuthProvider,
    AuthResult,
    AuthStatus,
    GuardrailAction,
    GuardrailProvider,
    GuardrailRequest,
    GuardrailResponse,
    GuardrailViolation,
    InputGuardrail,
    OutputGuardrail,
    PIIHandler,
    TelemetryProvider,
    TelemetryResult,
    ViolationType,
)

__all__ = [
    "AuthCredentials",
    "AuthMethod",
    "AuthProvider",
    "AuthResult",
    "AuthStatus",
    "GuardrailAction",
    "GuardrailProvider",
    "GuardrailRequest",
    "GuardrailResponse",
    "GuardrailViolation",
    "InputGuardrail",
    "OutputGuardrail",
    "PIIHandler",
    "ProviderError",
    "TelemetryProvider",
    "TelemetryResult",
    "ViolationType",
    "construct",
]
