"""The base of every model that crosses a boundary: camelCase on the wire, no unknown field."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    # Pipeline payloads keep nulls, which the state machine's paths must find; the response
    # document leaves absent sections out, as the TypeScript design's does.
    omit_none: ClassVar[bool] = False

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=self.omit_none)
