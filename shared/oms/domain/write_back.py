"""What the OMS tells a sales channel after a change it made itself: a parcel shipped (carrier,
service, tracking number, the lines in it), or the order cancelled by cs or ops. A change the channel
made (its own cancel) is not told back to it. A marketplace buyer's cancellation request is answered:
accepted while no parcel has left a node, refused after. The retailer's own channels (web, pos, callcenter,
social) read the OMS's API and events instead: no call.

Through the channel-client port (one interim JSON shape until each channel's own API shape lands with
the marketplace issue); the event id travels as the idempotency key, so a retried call is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from oms.domain.lifecycle import HANDED_OVER
from oms.models.order import OWN_CHANNELS, Channel, FlagCode, FulfillmentStatus

# Marketplaces whose buyer cancellation requests the OMS answers itself (the others: a person, in the
# channel's seller center, from the cancel_requested flag).
ANSWERS_CANCEL_REQUESTS = frozenset({Channel.shopee, Channel.tiktok, Channel.tokopedia})  # Tokopedia: TikTok's API


@dataclass(frozen=True)
class ChannelCall:
    channel: Channel
    channel_order_id: str
    kind: str  # shipped, cancelled
    body: dict[str, Any]
    idempotency_key: str
    shop_id: str | None = None  # the shop it was sold in: called with that shop's credentials


def write_back_for(detail_type: str, event: dict[str, Any]) -> ChannelCall | None:
    """The call a domain event (EventBridge detail: our envelope) means for its channel, if any."""
    order = event.get("detail") or {}
    try:
        channel = Channel(order.get("channel"))
    except ValueError:
        return None
    if channel in OWN_CHANNELS:
        return None
    call = _call_for(detail_type, channel, order, str(event.get("event_id") or ""))
    return replace(call, shop_id=order.get("shop_id")) if call is not None else None


def _call_for(detail_type: str, channel: Channel, order: dict, key: str) -> ChannelCall | None:
    channel_order_id = str(order.get("channel_order_id") or "")
    if detail_type == "FulfillmentShipped":
        return _shipment(channel, channel_order_id, order, key)
    if detail_type == "OrderCancelled" and order.get("changed_by") != f"channel:{channel.value}":
        return ChannelCall(channel, channel_order_id, "cancelled", {"by": order.get("changed_by") or "ops"}, key)
    if detail_type == "OrderFlagged" and channel in ANSWERS_CANCEL_REQUESTS:
        return _cancel_request_answer(channel, channel_order_id, order, key)
    return None


def _shipment(channel: Channel, channel_order_id: str, order: dict, key: str) -> ChannelCall | None:
    parcel = order.get("fulfillment") or {}
    shipment = parcel.get("shipment") or {}
    if not shipment.get("tracking_number"):
        return None
    if (parcel.get("shipping") or {}).get("arranged_by") == "marketplace":
        return None  # shipped on the marketplace's own courier: the marketplace knows already
    body = {"fulfillment_id": parcel.get("fulfillment_id"), "carrier": shipment.get("carrier"),
            "service": shipment.get("service"), "tracking_number": shipment.get("tracking_number"),
            "lines": [{"line_id": x.get("line_id"), "sku": x.get("sku"), "quantity": x.get("quantity")}
                      for x in parcel.get("lines") or []],
            "shipped_at": parcel.get("status_at")}  # fmt: skip
    return ChannelCall(channel, channel_order_id, "shipped", body, key)


def _cancel_request_answer(channel: Channel, channel_order_id: str, order: dict, key: str) -> ChannelCall | None:
    """A buyer's cancellation request becomes the OMS's cancel: accepted while nothing has left a node
    (the channel then cancels the order, which releases its stock here); refused once a parcel has."""
    if not any(flag.get("code") == FlagCode.cancel_requested.value for flag in order.get("flags") or []):
        return None
    statuses = {FulfillmentStatus(f["status"]) for f in order.get("fulfillments") or [] if f.get("status")}
    shipped = bool(statuses & HANDED_OVER)
    body = {"accept": not shipped, "reason": "a parcel has left the warehouse" if shipped else None}
    return ChannelCall(channel, channel_order_id, "cancel_request", body, key)
