"""The requestState tokens of multi round-trip requests resist forgery, replay and theft."""

from __future__ import annotations

import base64
import time

import pytest

from upstream.request_state import InvalidRequestState, RequestStates


def test_a_token_resumes_its_call_once_for_its_principal() -> None:
    states = RequestStates()
    token = states.mint("call-7", "alice")
    assert states.redeem(token, "alice").call_id == "call-7"
    with pytest.raises(InvalidRequestState, match="already used"):
        states.redeem(token, "alice")


def test_another_principal_cannot_use_it() -> None:
    states = RequestStates()
    token = states.mint("call-7", "alice")
    with pytest.raises(InvalidRequestState, match="another principal"):
        states.redeem(token, "bob")
    assert states.redeem(token, "alice").call_id == "call-7"  # a refused attempt spends nothing


def test_a_tampered_token_fails_its_integrity_check() -> None:
    states = RequestStates()
    raw = bytearray(base64.urlsafe_b64decode(states.mint("call-7", "alice") + "=="))
    raw[-5] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(InvalidRequestState, match="integrity"):
        states.redeem(forged, "alice")
    with pytest.raises(InvalidRequestState):
        states.redeem("not-a-token", "alice")
    with pytest.raises(InvalidRequestState):
        states.redeem(42, "alice")


def test_a_token_from_another_key_is_refused() -> None:
    token = RequestStates(b"k" * 32).mint("call-7", "alice")
    with pytest.raises(InvalidRequestState, match="integrity"):
        RequestStates(b"x" * 32).redeem(token, "alice")
    assert RequestStates(b"k" * 32).redeem(token, "alice").call_id == "call-7"  # shared key: any replica


def test_an_expired_token_is_refused() -> None:
    states = RequestStates(lifetime=0.01)
    token = states.mint("call-7", "alice")
    time.sleep(0.02)
    with pytest.raises(InvalidRequestState, match="expired"):
        states.redeem(token, "alice")
