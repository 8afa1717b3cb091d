"""What a plugin gave back, made into a :class:`PluginResult` of the hook's payload type, or a
:class:`PluginFailed` that says what was wrong (never what the payload held)."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from middleware.plugins.models import PluginResult


class PluginFailed(Exception):
    """A plugin raised, hung or answered garbage (the reason, never the payload)."""


class PluginTimedOut(PluginFailed):
    """A plugin ran past ``plugin_timeout`` (counted apart: the timeout metrics say so)."""


def as_result(result: Any, payload: BaseModel) -> PluginResult[Any]:
    """A plugin's answer as a :class:`PluginResult` whose payload has the hook's type."""
    if result is None:
        return PluginResult()
    if isinstance(result, PluginResult):
        answer: PluginResult[Any] = result
    elif isinstance(result, BaseModel) and hasattr(result, "continue_processing"):
        answer = revalidate(result.model_dump())
    elif isinstance(result, dict):
        answer = revalidate(result)
    else:
        raise PluginFailed(f"returned {type(result).__name__}, not a PluginResult")
    modified = answer.modified_payload
    if modified is not None and not isinstance(modified, type(payload)):
        try:
            source = modified.model_dump() if isinstance(modified, BaseModel) else modified
            answer.modified_payload = type(payload).model_validate(source)
        except ValidationError:
            raise PluginFailed(
                f"returned a modified payload that is not a {type(payload).__name__}"
            ) from None
    return answer


def revalidate(data: dict[str, Any]) -> PluginResult[Any]:
    try:
        return PluginResult[Any].model_validate(data)
    except ValidationError:
        raise PluginFailed("returned something that is not a PluginResult") from None


def where_raised(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
