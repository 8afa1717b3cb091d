"""Enkrypt's provider interfaces, with the seed's names, fields and method names, so that a
provider written for Enkrypt's gateway runs here with only its import lines changed.

Models are dataclasses built by keyword, as the seed's examples build them; enums compare by
value. The abstract methods are the ones the seed marks required; the others have defaults.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

# --- authentication ---------------------------------------------------------------------------


class AuthMethod(str, Enum):  # noqa: UP042 - the seed's enums are (str, Enum); kept for equality with strings
    API_KEY = "api_key"
    BEARER_TOKEN = "bearer_token"
    JWT = "jwt"
    OAUTH = "oauth"
    BASIC_AUTH = "basic_auth"
    CUSTOM = "custom"


class AuthStatus(str, Enum):  # noqa: UP042
    SUCCESS = "success"
    FAILURE = "failure"
    INVALID_CREDENTIALS = "invalid_credentials"
    EXPIRED = "expired"
    UNAUTHORIZED = "unauthorized"
    ERROR = "error"


@dataclass
class AuthCredentials:
    """What a request presents. Enkrypt clients send their key in an ``apikey`` header or as a
    bearer token: both land in ``api_key`` and ``gateway_key``; the bearer token also in
    ``access_token``; ``headers`` holds the request headers (``headers.get("Authorization")``)."""

    api_key: str | None = None
    gateway_key: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    username: str | None = None
    password: str | None = None
    session_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuthResult:
    status: AuthStatus
    authenticated: bool
    message: str = ""
    user_id: str | None = None
    project_id: str | None = None
    session_id: str | None = None
    gateway_config: dict[str, Any] | None = None
    permissions: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class AuthProvider(ABC):
    @abstractmethod
    def get_name(self) -> str: ...

    @abstractmethod
    def get_version(self) -> str: ...

    @abstractmethod
    def get_supported_methods(self) -> list[AuthMethod]: ...

    @abstractmethod
    async def authenticate(self, credentials: AuthCredentials) -> AuthResult: ...

    async def validate_session(self, session_id: str) -> bool:
        return True

    async def refresh_authentication(self, session_id: str, credentials: AuthCredentials) -> AuthResult:
        return await self.authenticate(credentials)

    def validate_config(self, config: dict[str, Any]) -> bool:
        return all(key in config for key in self.get_required_config_keys())

    def get_required_config_keys(self) -> list[str]:
        return []


# --- guardrails -------------------------------------------------------------------------------


class GuardrailAction(str, Enum):  # noqa: UP042
    ALLOW = "allow"
    BLOCK = "block"
    WARN = "warn"
    MODIFY = "modify"


class ViolationType(str, Enum):  # noqa: UP042
    PII = "pii"
    TOXIC_CONTENT = "toxic_content"
    NSFW_CONTENT = "nsfw_content"
    INJECTION_ATTACK = "injection_attack"
    POLICY_VIOLATION = "policy_violation"
    BIAS = "bias"
    SPONGE_ATTACK = "sponge_attack"
    KEYWORD_VIOLATION = "keyword_violation"
    RELEVANCY_FAILURE = "relevancy_failure"
    ADHERENCE_FAILURE = "adherence_failure"
    HALLUCINATION = "hallucination"
    CUSTOM = "custom"


@dataclass
class GuardrailViolation:
    violation_type: ViolationType
    severity: float
    message: str
    action: GuardrailAction = GuardrailAction.BLOCK
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class GuardrailRequest:
    content: str
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    server_name: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class GuardrailResponse:
    is_safe: bool
    action: GuardrailAction
    violations: list[GuardrailViolation] = field(default_factory=list)
    modified_content: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    processing_time_ms: float | None = None


class InputGuardrail(Protocol):
    async def validate(self, request: GuardrailRequest) -> GuardrailResponse: ...


class OutputGuardrail(Protocol):
    """The seed's examples take ``validate(request)``; Enkrypt's gateway calls
    ``validate(response_content=..., original_request=...)``: both are accepted."""

    async def validate(self, *args: Any, **kwargs: Any) -> GuardrailResponse: ...


class PIIHandler(Protocol):
    async def detect_pii(self, content: str) -> list[GuardrailViolation]: ...

    async def redact_pii(self, content: str) -> tuple[str, dict[str, str]]: ...

    async def restore_pii(self, content: str, mapping: dict[str, str]) -> str: ...


class GuardrailProvider(ABC):
    @abstractmethod
    def get_name(self) -> str: ...

    @abstractmethod
    def get_version(self) -> str: ...

    @abstractmethod
    def create_input_guardrail(self, config: dict[str, Any]) -> InputGuardrail | None: ...

    @abstractmethod
    def create_output_guardrail(self, config: dict[str, Any]) -> OutputGuardrail | None: ...

    def create_pii_handler(self, config: dict[str, Any]) -> PIIHandler | None:
        return None

    def validate_config(self, config: dict[str, Any]) -> bool:
        return all(key in config for key in self.get_required_config_keys())

    def get_required_config_keys(self) -> list[str]:
        return []


# --- telemetry --------------------------------------------------------------------------------


@dataclass
class TelemetryResult:
    success: bool
    provider_name: str
    message: str = ""
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class TelemetryProvider(ABC):
    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def initialize(self, config: dict[str, Any]) -> TelemetryResult: ...

    @abstractmethod
    def create_logger(self, name: str) -> Any: ...

    @abstractmethod
    def create_tracer(self, name: str) -> Any: ...

    def create_meter(self, name: str) -> Any:
        return None

    def shutdown(self) -> TelemetryResult:
        return TelemetryResult(success=True, provider_name=self.name)

    def validate_config(self, config: dict[str, Any]) -> bool:
        return all(key in config for key in self.get_required_config_keys())

    def get_required_config_keys(self) -> list[str]:
        return []
