"""TikTok Shop's order statuses (`status` of Get Order Detail / Search Orders, `order_status` of
webhook type 1) on the canonical lifecycle."""

from __future__ import annotations

from oms.channels.common import text
from oms.channels.marketplace import ChannelState

# The order `status` of Get Order Detail / Search Orders (and `order_status` of webhook type 1).
STATES: dict[str, ChannelState] = {
    "UNPAID": ChannelState.unpaid,
    # Paid, but the buyer may still cancel without the seller's approval and the seller may not ship yet
    # (the docs say UK only today).
    "ON_HOLD": ChannelState.on_hold,
    "AWAITING_SHIPMENT": ChannelState.ready,  # paid and ready for shipment, nothing shipped
    # Some (not all) items shipped. Shipped rather than arranged: part of the order is with the carrier
    # and can no longer be cancelled as a whole; the OMS tracks the rest per fulfillment.
    "PARTIALLY_SHIPPING": ChannelState.shipped,
    "AWAITING_COLLECTION": ChannelState.arranged,  # shipment arranged, waiting for the carrier to collect
    "IN_TRANSIT": ChannelState.shipped,  # collected by the carrier
    "DELIVERED": ChannelState.delivered,
    "COMPLETED": ChannelState.completed,  # no return or refund can be opened any more
    "CANCELLED": ChannelState.cancelled,
    "CANCEL": ChannelState.cancelled,  # the older spelling (CHANNELS.md lists both)
}


def state(raw: str | None) -> ChannelState:
    """The canonical state of a raw order status; unknown (never a guess) for anything unmapped."""
    value = text(raw)
    return STATES.get(value.upper(), ChannelState.unknown) if value else ChannelState.unknown
