"""Shopee's order statuses (`order_status` of get_order_detail, `status` of push code 3) on the
canonical lifecycle."""

from __future__ import annotations

from oms.channels.common import text
from oms.channels.marketplace import ChannelState

# `order_status` of get_order_detail (and the `status` of push code 3).
STATES: dict[str, ChannelState] = {
    "UNPAID": ChannelState.unpaid,
    "READY_TO_SHIP": ChannelState.ready,  # paid, or COD confirmed: the seller must arrange shipment
    "PROCESSED": ChannelState.arranged,  # shipment arranged, label printable, waiting for the pickup
    # The courier's pickup failed and the seller must arrange again: still not with the carrier.
    "RETRY_SHIP": ChannelState.arranged,
    "SHIPPED": ChannelState.shipped,
    # Shopee's "received by the buyer, waiting for the buyer to confirm" (or the window to lapse).
    "TO_CONFIRM_RECEIVE": ChannelState.delivered,
    "IN_CANCEL": ChannelState.cancel_requested,  # the buyer asked; the seller accepts or rejects
    "CANCELLED": ChannelState.cancelled,
    "TO_RETURN": ChannelState.return_requested,  # a return/refund request is being processed
    "COMPLETED": ChannelState.completed,
    # Holds by Shopee before the seller may ship (CHANNELS.md). INVOICE_PENDING is in the documented
    # get_order_list filter (Brazil: waiting for the seller's NF-e); PENDING is not in the public
    # enum we could check, so it is mapped as the hold CHANNELS.md describes.
    "INVOICE_PENDING": ChannelState.on_hold,
    "PENDING": ChannelState.on_hold,
}


def state(raw: str | None) -> ChannelState:
    """The canonical state of a raw order_status; unknown (never a guess) for anything unmapped."""
    value = text(raw)
    return STATES.get(value.upper(), ChannelState.unknown) if value else ChannelState.unknown
