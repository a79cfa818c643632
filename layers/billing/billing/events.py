"""The usage-event schema of CONTRACT section 1, validated strictly."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from billing.clock import utcnow

MAX_FUTURE = timedelta(minutes=5)
MAX_METADATA_BYTES = 2048

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/+=-]+$")]
ActionType = Literal["search", "crawl", "scrape", "api_call"]


class UsageEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal["1"]
    event_id: EventId
    account_id: Ident
    kind: Literal["usage", "refund"]
    occurred_at: AwareDatetime
    task_id: Ident
    execution_id: Ident
    action_type: ActionType
    phase: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    step: Annotated[int, Field(ge=0, le=1_000_000)]
    attempt: Annotated[int, Field(ge=1, le=1_000)]
    urls: Annotated[int, Field(ge=0, le=1_000_000)]
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    preview: bool
    refund_of: EventId | None = None
    refund_reason: Annotated[str, StringConstraints(max_length=512)] | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _not_in_future(cls, value: datetime) -> datetime:
        if value - utcnow() > MAX_FUTURE:
            raise ValueError("occurred_at is more than 5 minutes in the future")
        return value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            encoded = json.dumps(value, allow_nan=False, separators=(",", ":"), sort_keys=True)
        except ValueError as exc:
            raise ValueError("metadata must be plain JSON (no NaN or Infinity)") from exc
        if len(encoded.encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes serialized")
        return value

    @model_validator(mode="after")
    def _refund_fields(self) -> UsageEvent:
        if self.kind == "refund" and not self.refund_of:
            raise ValueError("kind=refund requires refund_of")
        if self.kind == "usage" and (self.refund_of is not None or self.refund_reason is not None):
            raise ValueError("refund_of and refund_reason are only allowed with kind=refund")
        if self.kind == "refund" and self.refund_of == self.event_id:
            raise ValueError("an event cannot refund itself")
        return self

    def canonical(self) -> dict[str, Any]:
        """The content that identifies this occurrence; a resend must match it exactly."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def differing_fields(stored_json: str, event: UsageEvent) -> list[str]:
    stored = json.loads(stored_json)
    fresh = event.canonical()
    # occurred_at compares as an instant, not as text: "+00:00" and "Z" are the same time.
    keys = sorted(set(stored) | set(fresh))
    diffs = []
    for key in keys:
        a, b = stored.get(key), fresh.get(key)
        if key == "occurred_at" and a and b:
            if datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00")):
                continue
        if a != b:
            diffs.append(key)
    return diffs
