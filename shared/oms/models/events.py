"""Domain events: past-tense facts with ids, a version and an occurred-at.

See docs/events.md. Details carry no PII: destination region, not address.
"""

from __future__ import annotations

from datetime import date, datetime
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
    order_address_changed = "OrderAddressChanged"
    order_reinstated = "OrderReinstated"
    order_allocated = "OrderAllocated"
    order_backordered = "OrderBackordered"
    fulfillment_requested = "FulfillmentRequested"
    promise_changed = "PromiseChanged"
    fulfillment_status_changed = "FulfillmentStatusChanged"
    fulfillment_shipped = "FulfillmentShipped"
    parcel_delivered = "ParcelDelivered"
    order_flagged = "OrderFlagged"
    return_authorized = "ReturnAuthorized"
    return_received = "ReturnReceived"
    return_units_inspected = "ReturnUnitsInspected"
    return_inspected = "ReturnInspected"
    return_cancelled = "ReturnCancelled"
    exchange_requested = "ExchangeRequested"
    return_closed = "ReturnClosed"
    refund_requested = "RefundRequested"
    refund_completed = "RefundCompleted"
    refund_failed = "RefundFailed"
    shipment_arranged = "ShipmentArranged"
    arrange_failed = "ArrangeFailed"
    resi_assigned = "ResiAssigned"
    label_ready = "LabelReady"
    parcel_handed_over = "ParcelHandedOver"


RETURN_EVENTS = frozenset(
    {
        EventType.return_authorized,
        EventType.return_received,
        EventType.return_units_inspected,
        EventType.return_inspected,
        EventType.return_cancelled,
        EventType.exchange_requested,
        EventType.return_closed,
        EventType.refund_requested,
        EventType.refund_completed,
        EventType.refund_failed,
    }
)


class DomainEvent(BaseModel):
    event_id: str = Field(description="Deterministic: the same change always has the same id")
    event_type: EventType
    schema_version: str = SCHEMA_VERSION
    occurred_at: datetime
    order_id: str
    detail: dict


class ParcelDeliveredDetail(BaseModel):
    """What a `ParcelDelivered` event carries (the status function emits it; promising learns from it)."""

    fulfillment_id: str = Field(min_length=1, max_length=100)
    node_id: str = Field(min_length=1, max_length=64)
    carrier: str = Field(min_length=1, max_length=40)
    service: str = Field(min_length=1, max_length=40)
    origin_region: str
    destination_region: str
    destination_province: str | None = None
    promised_ship_by: datetime = Field(description="The hand-over promised at allocation (node time)")
    handed_over_at: datetime | None = None
    delivered_at: datetime
    promised_latest: date | None = Field(default=None, description="The latest delivery date first promised")
