"""A webhook as received: raw bytes plus the few headers worth keeping."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from oms.models.common import Channel


class InboxEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    channel: Channel
    dedupe_key: str = Field(description="The channel's own delivery key; one inbox item per key")
    topic: str | None = None
    received_at: datetime
    content_type: str | None = None
    # Non-secret delivery headers (topic, event id, shop); never the signature.
    headers: dict[str, str] = Field(default_factory=dict)
    body: bytes

    @property
    def pk(self) -> str:
        return f"{self.channel.value}#{self.dedupe_key}"
