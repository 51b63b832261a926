"""What the OMS tells a sales channel after a change it made itself: a parcel shipped (carrier,
service, tracking number, the lines in it), or the order cancelled by cs or ops. A change the channel
made (its own cancel) is not told back to it. The retailer's own channels (web, pos, callcenter,
social) read the OMS's API and events instead: no call.

Through the channel-client port (one interim JSON shape until each channel's own API shape lands with
the marketplace issue); the event id travels as the idempotency key, so a retried call is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oms.models.order import OWN_CHANNELS, Channel


@dataclass(frozen=True)
class ChannelCall:
    channel: Channel
    channel_order_id: str
    kind: str  # shipped, cancelled
    body: dict[str, Any]
    idempotency_key: str


def write_back_for(detail_type: str, event: dict[str, Any]) -> ChannelCall | None:
    """The call a domain event (EventBridge detail: our envelope) means for its channel, if any."""
    order = event.get("detail") or {}
    try:
        channel = Channel(order.get("channel"))
    except ValueError:
        return None
    if channel in OWN_CHANNELS:
        return None
    key = str(event.get("event_id") or "")
    channel_order_id = str(order.get("channel_order_id") or "")
    if detail_type == "FulfillmentShipped":
        parcel = order.get("fulfillment") or {}
        shipment = parcel.get("shipment") or {}
        if not shipment.get("tracking_number"):
            return None
        body = {"fulfillment_id": parcel.get("fulfillment_id"), "carrier": shipment.get("carrier"),
                "service": shipment.get("service"), "tracking_number": shipment.get("tracking_number"),
                "lines": [{"line_id": x.get("line_id"), "sku": x.get("sku"), "quantity": x.get("quantity")}
                          for x in parcel.get("lines") or []],
                "shipped_at": parcel.get("status_at")}  # fmt: skip
        return ChannelCall(channel, channel_order_id, "shipped", body, key)
    if detail_type == "OrderCancelled" and order.get("changed_by") != f"channel:{channel.value}":
        return ChannelCall(channel, channel_order_id, "cancelled", {"by": "seller"}, key)
    return None
