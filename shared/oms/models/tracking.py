"""What a buyer sees on GET /track/{order_number}: no names, addresses, phones, emails or prices."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from oms.models.common import Model
from oms.models.order import FulfillmentStatus, OrderStatus
from oms.models.returns import RefundStatus, RmaStatus


class TrackedParcel(Model):
    status: FulfillmentStatus
    carrier: str | None = None
    service: str | None = None
    tracking_number: str | None = None
    items: int = Field(description="Units in the parcel")
    pickup_store: str | None = Field(default=None, description="The store's name, for a pickup order")
    promised_latest: date | None = Field(default=None, description="The latest delivery date first promised")
    estimated_earliest: date | None = None
    estimated_latest: date | None = Field(default=None, description="The current estimate")
    deliver_by: datetime | None = Field(default=None, description="Same day and instant")
    ready_at: datetime | None = Field(default=None, description="Pickup: ready from")
    updated_at: datetime | None = None


class TrackedEvent(Model):
    at: datetime
    what: str


class TrackedReturn(Model):
    rma_id: str
    status: RmaStatus
    items: int = Field(description="Units on the return")
    refund_status: RefundStatus
    exchange: bool = Field(default=False, description="A replacement order was created instead of a refund")


class Tracking(Model):
    order_number: str
    status: OrderStatus
    placed_on: date
    parcels: list[TrackedParcel]
    timeline: list[TrackedEvent]
    returns: list[TrackedReturn] = Field(default_factory=list)
