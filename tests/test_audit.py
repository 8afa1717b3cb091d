"""The audit trail in process: one record shape for every decision, allowed calls recorded
once and refusals never as allowed, the file sink (JSON lines, 0600, rotated), the switch, the
telemetry providers fed the same records, and the masking of values recognisable on their own."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import AuditSink, with_audit
from gateway.logs import JsonFormatter, MaskSecrets, mask
from gateway.settings import Settings
from middleware.authz.limit_rules import Limit
from middleware.authz.limit_store import Refusal
from middleware.authz.rate_limits import _audit as rate_limit_audit
from middleware.protocol import MCPApp, Principal, Receive, Scope, Send, response_event, result_message
from middleware.protocol.audit import AUDIT_LOGGER, AUDIT_TEMPLATE, AUDIT_VERDICT, audit_record
from middleware.protocol.testing import call, make_test_scope
from middleware.telemetry.audit import AuditTrail

ALICE = Principal("alice", project="acme")
SECRET = "sk-live-argument-value-0123456789"


async def answered(scope: Scope, receive: Receive, send: Send) -> None:
    await send(response_event(result_message(scope["id"], {"content": []})))


def refusing(verdict: str) -> MCPApp:
    """An inner layer that refuses, recording it as every deciding layer does."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        logging.getLogger(AUDIT_LOGGER).warning(AUDIT_TEMPLATE, audit_record(scope, verdict, by="rule-1"))
        await send(response_event(result_message(scope["id"], {"content": [], "isError": True})))

    return app


def records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [dict(r.args) for r in caplog.records if r.name == AUDIT_LOGGER and isinstance(r.args, dict)]


def tool_call(**arguments: Any) -> Scope:
    params = {"name": "one__echo", "arguments": arguments}
    return make_test_scope("tools/call", params, principal=ALICE, session_id="abcdef0123456789")


async def test_an_allowed_call_is_recorded_once_without_its_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    await call(AuditTrail(answered), tool_call(text=SECRET))
    [record] = records(caplog)
    assert record == {
        "event": "audit",
        "verdict": "allow",
        "by": "-",
        "principal": "alice",
        "project": "acme",
        "method": "tools/call",
        "server": "-",
        "target": "one__echo",
        "reason": "-",
        "session": "abcdef01",
    }
    assert SECRET not in caplog.text


async def test_a_refused_call_is_never_also_recorded_as_allowed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    for verdict in ("deny", "block", "rate_limited"):
        caplog.clear()
        scope = tool_call()
        await call(AuditTrail(refusing(verdict)), scope)
        assert [r["verdict"] for r in records(caplog)] == [verdict]
        assert scope["state"][AUDIT_VERDICT] == verdict


async def test_a_modification_leaves_the_call_allowed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    await call(AuditTrail(refusing("modify")), tool_call())
    assert [r["verdict"] for r in records(caplog)] == ["modify", "allow"]


async def test_lists_and_notifications_are_not_recorded_and_allowed_calls_can_be_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    await call(AuditTrail(answered), make_test_scope("tools/list"))
    await call(AuditTrail(answered, include_allowed=False), tool_call())
    assert records(caplog) == []
    off = Settings.model_validate({"telemetry": {"audit": {"include_allowed": False}}})
    assert with_audit(off, answered) is answered
    assert with_audit(Settings(), answered) is answered  # off by default: the access log has them
    on = Settings.model_validate({"telemetry": {"audit": {"include_allowed": True}}})
    assert isinstance(with_audit(on, answered), AuditTrail)


def test_a_rate_limit_refusal_names_the_limit_not_the_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    limit = Limit("per-user", rate=1 / 60)
    rate_limit_audit(tool_call(text=SECRET), Refusal(limit, 3.0), ("one", "echo"))
    [record] = records(caplog)
    assert record["verdict"] == "rate_limited" and record["by"] == "per-user"
    assert record["server"] == "one" and record["target"] == "echo" and SECRET not in caplog.text


def test_a_long_target_and_reason_are_cut() -> None:
    record = audit_record(tool_call(), "deny", by="r", reason="x" * 500, target="t" * 500)
    assert len(record["target"]) == 203 and len(record["reason"]) == 203


def test_the_file_sink_writes_json_lines_only_the_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)  # an existing file is tightened
    settings = Settings.model_validate({"telemetry": {"audit": {"sink": str(path)}}})
    forwarded: list[logging.LogRecord] = []

    class Provider(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            forwarded.append(record)

    sink = AuditSink(settings)
    sink.open(Provider())
    try:
        record = audit_record(tool_call(), "deny", by="rule-1", reason="no jane@example.org here")
        logging.getLogger(AUDIT_LOGGER).warning(AUDIT_TEMPLATE, record)
    finally:
        sink.close()
    [line] = path.read_text().splitlines()
    entry = json.loads(line)
    assert entry["verdict"] == "deny" and entry["by"] == "rule-1" and entry["principal"] == "alice"
    assert entry["reason"] == "no ****@example.org here" and "ts" in entry
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(forwarded) == 1  # the telemetry providers hear the same record
    assert logging.getLogger(AUDIT_LOGGER).propagate  # closing gives the logger back


def test_the_file_sink_rotates(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    settings = Settings.model_validate({"telemetry": {"audit": {"sink": str(path), "max_bytes": 600}}})
    sink = AuditSink(settings)
    sink.open()
    try:
        for _ in range(10):
            logging.getLogger(AUDIT_LOGGER).info(AUDIT_TEMPLATE, audit_record(tool_call(), "allow", by="-"))
    finally:
        sink.close()
    assert (tmp_path / "audit.jsonl.1").exists()
    assert stat.S_IMODE((tmp_path / "audit.jsonl.1").stat().st_mode) == 0o600


def test_the_trail_can_be_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    sink = AuditSink(Settings.model_validate({"telemetry": {"audit": {"enabled": False}}}))
    sink.open()
    try:
        logging.getLogger(AUDIT_LOGGER).warning(AUDIT_TEMPLATE, audit_record(tool_call(), "deny", by="r"))
    finally:
        sink.close()
    assert records(caplog) == []


def test_a_blank_sink_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match='write "log" or the path'):
        Settings.model_validate({"telemetry": {"audit": {"sink": " "}}})


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("key sk-proj-Qw3rTy8uIoP4aSdF6gHjK9lZxC2vB", "sk-proj-Qw3rTy8uIoP4aSdF6gHjK9lZxC2vB"),
        ("id AKIAQ7LEAKTESTKEY7XZ.", "AKIAQ7LEAKTESTKEY7XZ"),
        ("dsn postgres://app:Pa55word@db:5432/x", "Pa55word"),
        ("mail jane.doe@example.org now", "jane.doe"),
        ("call +44 20 7946 0958 today", "7946 0958"),
        ("card 4111-1111-1111-1111", "4111-1111-1111-1111"),
        ("iban DE89 3704 0044 0532 0130 00", "3704 0044 0532"),
        ("ssn 078-05-1120", "078-05-1120"),
    ],
)
def test_values_secret_or_personal_on_their_own_are_masked(text: str, gone: str) -> None:
    assert gone not in mask(text)


@pytest.mark.parametrize(
    "text",
    [
        "method=tools/call server=alpha name=echo principal=bob@example.com session=abcdef12 ms=0.42",
        "2026-12-07 14:21:40,011 restarting in 1.50 s (attempt 3)",
        "sha256 3f2a9c0d1e4b5a6978c8d9e0f1a2b3c4d5e6f7a8 of /usr/lib/python3.11/site-packages/mcp/x.py",
        "card-like 4111 1111 1111 1112 fails Luhn",
    ],
)
def test_ordinary_lines_are_left_as_they_are(text: str) -> None:
    assert mask(text) == text


def test_the_principal_field_is_kept_even_when_an_email() -> None:
    record = logging.LogRecord(AUDIT_LOGGER, logging.INFO, __file__, 1, AUDIT_TEMPLATE, None, None)
    record.args = {
        **audit_record(tool_call(), "deny", by="r", reason="a@b.example"),
        "principal": "bob@x.org",
    }
    MaskSecrets().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["principal"] == "bob@x.org" and entry["reason"] == "****@b.example"
