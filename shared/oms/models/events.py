"""Domain events: past-tense facts with ids, a version and an occurred-at.

See docs/events.md. Details carry no PII: destination region, not address.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

EVENT_SOURCE = "oms"
SCHEMA_VERSION = "1"


class EventType(StrEnum):
    order_received = "OrderReceived"
    order_updated = "OrderUpdated"
    order_held = "OrderHeld"
    order_hold_cleared = "OrderHoldCleared"
    order_cancelled = "OrderCancelled"
    order_reinstated = "OrderReinstated"
    order_allocated = "OrderAllocated"
    order_backordered = "OrderBackordered"
    fulfillment_requested = "FulfillmentRequested"
    promise_changed = "PromiseChanged"


class DomainEvent(BaseModel):
    event_id: str = Field(description="Deterministic: the same change always has the same id")
    event_type: EventType
    schema_version: str = SCHEMA_VERSION
    occurred_at: datetime
    order_id: str
    detail: dict
