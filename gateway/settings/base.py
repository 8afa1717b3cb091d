"""What every settings table shares."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
