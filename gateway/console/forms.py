"""Form bodies (``application/x-www-form-urlencoded``), read with a limit: the console's forms
are a few short fields, and nothing else is accepted (python-multipart is not needed)."""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM: Final = 64 * 1024


class FormError(Exception):
    """The body is not a form the console sent."""


async def read_form(request: Request) -> dict[str, str]:
    """The fields of the form posted (the first value of each)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormError("send the console's form (application/x-www-form-urlencoded)")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            raise FormError(f"the form is larger than {MAX_FORM} bytes")
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise FormError("the form is not UTF-8") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
