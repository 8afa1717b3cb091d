"""What the audit trail says of a guardrail that let a call go on: ``redact`` when it changed the
content, ``flag`` when it only marked it (never the framework's generic ``modify``)."""

from __future__ import annotations

import logging
import string
import textwrap
from pathlib import Path
from typing import Any

import pytest

from middleware.plugins import PluginManager, Plugins
from middleware.protocol import RESPONSE, MCPScope, Principal, Receive, Send, result_message
from middleware.protocol.audit import AUDIT_LOGGER
from middleware.protocol.testing import call, make_test_scope

KEY = "AKIA" + "".join(string.ascii_uppercase[i % 26] if i % 3 else str(i % 10) for i in range(16))
"""An AWS access key id by its shape (made up)."""


async def leaky(scope: MCPScope, receive: Receive, send: Send) -> None:
    result = {"content": [{"type": "text", "text": f"the key is {KEY}"}], "isError": False}
    await send({"type": RESPONSE, "message": result_message(scope["id"], result)})


def guarded(tmp_path: Path, results: str) -> Plugins:
    path = tmp_path / "plugins.yaml"
    path.write_text(
        textwrap.dedent(f"""
            plugins:
              - name: guardrail-secrets
                kind: middleware.guardrails.sensitive.SecretsGuard
                hooks: [tool_post_invoke]
                mode: enforce
                config: {{results: {results}, restore: never}}
            """)
    )
    return Plugins(leaky, PluginManager.from_file(path).executor)


async def audited_call(app: Plugins, caplog: pytest.LogCaptureFixture) -> tuple[dict[str, Any], str]:
    """The call's answer text and the one audit record it left."""
    caplog.clear()
    scope = make_test_scope("tools/call", {"name": "one__read"}, principal=Principal("alice"))
    [event] = await call(app, scope)
    [record] = [dict(r.args) for r in caplog.records if r.name == AUDIT_LOGGER and isinstance(r.args, dict)]
    return record, event["message"]["result"]["content"][0]["text"]


async def test_a_redaction_and_a_flag_are_distinct_verdicts_on_the_audit_trail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    redacted, text = await audited_call(guarded(tmp_path, "redact"), caplog)
    assert KEY not in text
    assert (redacted["verdict"], redacted["by"]) == ("redact", "plugin guardrail-secrets")
    assert redacted["reason"].startswith("redacted secrets (") and KEY not in redacted["reason"]
    flagged, text = await audited_call(guarded(tmp_path, "flag"), caplog)
    assert KEY in text and text.startswith("[Portcullis flagged: secrets]")
    assert (flagged["verdict"], flagged["reason"]) == (
        "flag",
        redacted["reason"].replace("redacted", "flagged"),
    )


async def test_a_call_without_arguments_leaves_no_record_of_a_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing to look at is no change: an argument-less call once read as modified by every
    sensitive-data guardrail, on the trail and in the log."""
    path = tmp_path / "plugins.yaml"
    path.write_text(
        textwrap.dedent("""
            plugins:
              - {name: guardrail-pii, kind: middleware.guardrails.sensitive.PiiGuard,
                 hooks: [tool_pre_invoke]}
              - {name: guardrail-secrets, kind: middleware.guardrails.sensitive.SecretsGuard,
                 hooks: [tool_pre_invoke]}
            """)
    )

    async def quiet(scope: MCPScope, receive: Receive, send: Send) -> None:
        result = {"content": [{"type": "text", "text": "fine"}], "isError": False}
        await send({"type": RESPONSE, "message": result_message(scope["id"], result)})

    caplog.set_level(logging.INFO)
    app = Plugins(quiet, PluginManager.from_file(path).executor)
    for params in ({"name": "one__read"}, {"name": "one__read", "arguments": {}}):
        [event] = await call(app, make_test_scope("tools/call", params, principal=Principal("alice")))
        assert event["message"]["result"]["content"][0]["text"] == "fine"
    assert not [r.getMessage() for r in caplog.records if "changed" in r.getMessage()]
