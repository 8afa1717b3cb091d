"""The admin API's OpenAPI document against its routes, and the [admin] settings' refusals."""

from __future__ import annotations

import tomllib
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.admin.auth import admin_hash
from gateway.admin.http import Context
from gateway.admin.openapi import document
from gateway.admin.ports import AdminParts, AdminTarget
from gateway.admin.server import OPS, build_app
from gateway.settings import Settings, SettingsError
from middleware.auth.api_key import hash_key


def _starlette() -> Starlette:
    target = cast(AdminTarget, SimpleNamespace(settings=Settings()))
    context = Context(target, cast(Any, None), cast(Any, None), AdminParts())
    app: Any = build_app(context, None)
    while not isinstance(app, Starlette):  # through the Host check and the credential
        app = app.app
    return app


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    routes = [route for route in _starlette().routes if isinstance(route, Route)]
    served = {(route.path, method.lower()) for route in routes for method in route.methods or ()}
    served = {(path.replace(":path}", "}"), method) for path, method in served if method != "head"}
    documented = {(path, method) for path, item in document(OPS)["paths"].items() for method in item}
    assert served == documented


def test_the_document_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document(OPS))


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for item in document(OPS)["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_off_by_default_and_loopback() -> None:
    admin = Settings().admin
    assert not admin.enabled and admin.host == "127.0.0.1"


def test_a_public_listener_without_a_credential_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a credential"):
        Settings(admin={"enabled": True, "host": "0.0.0.0"})
    Settings(admin={"enabled": True, "host": "0.0.0.0", "token_sha256": hash_key("pca_x")})


def test_a_literal_token_is_refused_without_being_quoted() -> None:
    with pytest.raises(ValueError) as caught:
        Settings(admin={"token": "pca_literal_secret_value"})
    assert "must name the token" in str(caught.value)
    assert "pca_literal_secret_value" not in str(caught.value).split("input_value")[0]


def test_a_token_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(admin={"enabled": True, "token": "${ADMIN_TOKEN_FOR_TEST}"})
    monkeypatch.setenv("ADMIN_TOKEN_FOR_TEST", "pca_from_env")
    assert admin_hash(settings, set()) == hash_key("pca_from_env")
    monkeypatch.delenv("ADMIN_TOKEN_FOR_TEST")
    with pytest.raises(SettingsError):
        admin_hash(settings, set())


def test_the_admin_token_may_not_be_a_client_key() -> None:
    settings = Settings(admin={"enabled": True, "token_sha256": hash_key("pcs_shared")})
    with pytest.raises(SettingsError, match="also a client API key"):
        admin_hash(settings, {hash_key("pcs_shared")})


def test_the_export_masks_every_secret_and_keeps_references() -> None:
    import json

    from gateway.admin.export import masked, to_toml

    settings = Settings(
        servers={
            "web": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer s3cret-header"}},
            "local": {"command": "python", "env": {"A": "s3cret-env", "B": "${FROM_ENV}"}},
        },
        redis={"url": "redis://user:s3cret-password@redis.local:6379/0"},
        guardrails={"vault_key": "s3cret-vault"},
        sessions={"request_state_key": "s3cret-state-key-0123456789abcdef"},
        admin={"token": "file:/run/secrets/admin"},
    )
    data = masked(settings)
    text = json.dumps(data) + to_toml(data)
    assert "s3cret" not in text
    assert data["servers"]["local"]["env"]["B"] == "${FROM_ENV}"
    assert data["admin"]["token"] == "***"
    assert data["redis"]["url"] == "redis://user:***@redis.local:6379/0"
    assert tomllib.loads(to_toml(data)) == data
