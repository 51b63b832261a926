"""Lazada's per-item statuses (and reverse-order statuses) on the canonical lifecycle, and an
order's state from its items'."""

from __future__ import annotations

from collections.abc import Iterable

from oms.channels.common import text
from oms.channels.marketplace import STATE_RANK, ChannelState

# Item statuses (trade order push `order_status`, `/order/items/get` `status`).
_ITEM_STATES = {
    "unpaid": ChannelState.unpaid,
    # Paid (or COD confirmed) and waiting for the seller: nothing is arranged yet.
    "pending": ChannelState.ready,
    # "To pack" is the newer flow's name for the same wait: the seller has not packed.
    "topack": ChannelState.ready,
    # From here the seller has packed / printed the label / booked the pickup.
    "packed": ChannelState.arranged,
    "repacked": ChannelState.arranged,
    "toship": ChannelState.arranged,
    "ready_to_ship": ChannelState.arranged,
    "shipped": ChannelState.shipped,
    "shipping": ChannelState.shipped,
    "delivered": ChannelState.delivered,
    "confirmed": ChannelState.completed,  # the buyer confirmed receipt: closed
    # "failed" is Lazada's final failed delivery: the parcel goes back, nothing is sold.
    "failed": ChannelState.returned,
    # "lost" by the carrier: the buyer is refunded and nothing will arrive (raw value kept for ops).
    "lost": ChannelState.returned,
    "canceled": ChannelState.cancelled,
    "returned": ChannelState.returned,
}

# Reverse order push (message_type 10) `reverse_status`: the keys Lazada documents.
# Lazada pushes only some of them, by reverse type (CANCEL, RTM = return to merchant,
# RTW = return to warehouse, ONLY_REFUND).
_REVERSE_STATES = {
    "CANCEL_INIT": ChannelState.cancel_requested,  # the buyer asked; the seller decides
    "CANCEL_SUCCESS": ChannelState.cancelled,
    "CANCEL_REFUND_ISSUED": ChannelState.cancelled,
    "RTM_INIT": ChannelState.return_requested,
    # A withdrawn return leaves the item where it was: delivered to the buyer.
    "RTM_CANCELED": ChannelState.delivered,
    "RTM_SHIPPING_BACK": ChannelState.return_requested,  # collected, on its way back
    "RTM_RECEIVE_ITEM": ChannelState.returned,  # back at the seller
    "RTW_INIT": ChannelState.return_requested,
    "RTW_CANCELED": ChannelState.delivered,
    "RTW_SHIPPING_BACK": ChannelState.return_requested,
    "RTW_RECEIVE_ITEM": ChannelState.returned,
    "REFUND_SUCCESS": ChannelState.returned,  # ONLY_REFUND: refunded without a return
}

STATES: dict[str, ChannelState] = {**_ITEM_STATES, **_REVERSE_STATES}


def state(raw: object) -> ChannelState:
    """One raw status (item or reverse) on the canonical lifecycle; unknown values stay unknown."""
    value = text(raw) if isinstance(raw, str) else None
    if value is None:
        return ChannelState.unknown
    return STATES.get(value) or STATES.get(value.lower()) or STATES.get(value.upper()) or ChannelState.unknown


def order_state(statuses: Iterable[object]) -> tuple[ChannelState, str | None]:
    """An order's state from its items' statuses, with the raw status it came from.

    Cancelled items are ignored unless every item is cancelled. Of the live ones
    the least advanced wins: the order still needs work (packing, shipping) until
    every live unit is past that step, and one unknown status makes the whole
    order unknown (flagged) rather than guessed.
    """
    raws = [text(s) for s in statuses]
    raws = [r for r in raws if r]
    if not raws:
        return ChannelState.unknown, None
    live = [r for r in raws if state(r) is not ChannelState.cancelled]
    if not live:
        return ChannelState.cancelled, raws[0]
    least = min(live, key=lambda r: STATE_RANK[state(r)])
    return state(least), least
