"""API input and output models (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from oms.models.common import Channel, Moment
from oms.models.common import Model as _Model
from oms.models.order import (
    OWN_CHANNELS,
    Address,
    Customer,
    DeliveryMethod,
    Hold,
    OrderLine,
    OrderStatus,
    Payment,
    ServiceLevel,
    Totals,
)


class OrderCreate(_Model):
    """An order keyed in or posted by one of the retailer's own channels."""

    channel: Channel = Field(description="web, pos, callcenter or social")
    channel_order_id: str = Field(min_length=1, max_length=100, description="The sender's own id: the idempotency key")
    channel_order_number: str | None = Field(default=None, max_length=100, description="e.g. the till receipt number")
    placed_at: Moment = Field(description="ISO 8601 with a time zone offset")
    channel_updated_at: Moment | None = Field(default=None, description="Defaults to placed_at")
    currency: str = Field(default="IDR", min_length=3, max_length=3)
    customer: Customer = Field(default_factory=Customer)
    shipping_address: Address | None = None
    delivery_method: DeliveryMethod = DeliveryMethod.ship
    service_level: ServiceLevel = ServiceLevel.regular
    pickup_node_id: str | None = Field(default=None, max_length=64)
    payment: Payment
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    totals: Totals | None = Field(default=None, description="Computed from the lines when omitted")
    notes: str | None = Field(default=None, max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _own_channel(self) -> OrderCreate:
        if self.channel not in OWN_CHANNELS:
            allowed = ", ".join(sorted(c.value for c in OWN_CHANNELS))
            raise ValueError(f"channel '{self.channel.value}' posts through its webhook; POST /orders takes {allowed}")
        return self

    def computed_totals(self) -> Totals:
        if self.totals is not None:
            return self.totals
        subtotal = sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))
        discount = sum((line.discount for line in self.lines), Decimal(0))
        tax = sum((line.tax for line in self.lines), Decimal(0))
        return Totals(subtotal=subtotal, discount=discount, tax=tax, grand_total=subtotal - discount + tax)


class OrderSummary(BaseModel):
    order_id: str
    order_number: str
    channel: Channel
    channel_order_id: str
    status: OrderStatus
    placed_at: datetime
    created_at: datetime
    currency: str
    grand_total: Decimal
    hold_codes: list[str] = Field(default_factory=list)


class OrderList(BaseModel):
    items: list[OrderSummary]
    next_cursor: str | None = Field(default=None, description="Pass as cursor for the next page")


class CaptureResponse(BaseModel):
    outcome: str = Field(description="created, updated, duplicate or stale")
    order_id: str
    order_number: str
    status: OrderStatus
    holds: list[Hold]


class WebhookAck(BaseModel):
    status: str = Field(description="accepted, duplicate or ping")


class ErrorBody(BaseModel):
    error: str
    message: str
    details: list | dict | None = None


class StatusChannelCount(_Model):
    status: str
    channel: str
    orders: int


class OrderStats(_Model):
    created_from: datetime
    created_to: datetime
    total: int
    by_status: dict[str, int]
    by_channel: dict[str, int]
    by_status_and_channel: list[StatusChannelCount]
