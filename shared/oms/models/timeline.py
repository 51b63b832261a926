"""An order's timeline: one immutable entry per thing that happened, derived from each stored change."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from oms.models.common import Model
from oms.models.order import Order


class TimelineEntry(Model):
    order_id: str
    version: int = Field(description="The order version the change made")
    seq: int = Field(description="Its place among the entries of that version")
    at: datetime
    kind: str = Field(description="received, status, hold, allocated, parcel, promise, address, cancelled, ...")
    what: str = Field(description="What happened, for people (no PII)")
    by: str = Field(description="Who or which system: channel:<name>, sourcing, node:<id>, carrier:<name>, ops:<key>")
    public: str | None = Field(default=None, description="What the buyer reads on the tracking API (None: staff only)")
    fulfillment_id: str | None = None

    @property
    def key(self) -> str:
        return f"TL#{self.version:010d}#{self.seq:03d}"


class OrderView(Order):
    """An order as staff see it: everything, with its timeline (oldest first)."""

    timeline: list[TimelineEntry] = Field(
        default_factory=list, description="Every change: what, when, who (written within a second of the change)"
    )
