"""Tokopedia's numeric order status codes on the canonical lifecycle (kept as their decimal string,
"220")."""

from __future__ import annotations

from oms.channels.marketplace import ChannelState

STATES: dict[str, ChannelState] = {
    # 0-15: cancellations and rejections, before or after payment.
    "0": ChannelState.cancelled,  # cancelled by the seller
    "2": ChannelState.cancelled,  # rejected: replaced
    "3": ChannelState.cancelled,  # rejected: out of stock
    "4": ChannelState.cancelled,  # rejected: approval
    "5": ChannelState.cancelled,  # cancelled as fraud
    "6": ChannelState.cancelled,  # rejected automatically (out of stock)
    "10": ChannelState.cancelled,  # rejected by the seller
    "11": ChannelState.cancelled,  # rejected, pending replacement: this order will not ship
    "15": ChannelState.cancelled,  # instant cancel by the buyer
    # 100-200: placed, the money not yet verified.
    "100": ChannelState.unpaid,
    "103": ChannelState.unpaid,  # waiting for a third party's payment confirmation
    "200": ChannelState.unpaid,  # payment being confirmed
    "220": ChannelState.ready,  # payment verified: the seller must accept and ship
    "221": ChannelState.ready,  # paid, waiting for the fulfilment partner's approval
    # 400 is the seller's "accept": a promise, not a packed parcel. Only 450 (pickup
    # requested / booked) says the shipment is arranged, so 400 stays ready.
    "400": ChannelState.ready,
    "450": ChannelState.arranged,
    "500": ChannelState.shipped,
    "501": ChannelState.shipped,  # shipped, the AWB not yet entered
    "520": ChannelState.shipped,  # shipped with an invalid AWB: a correction is due
    "530": ChannelState.shipped,  # the buyer asked for the AWB to be corrected
    "540": ChannelState.shipped,  # at a pickup point, waiting for the buyer: not delivered yet
    "550": ChannelState.returned,  # returned to the seller
    "600": ChannelState.delivered,
    "601": ChannelState.return_requested,  # the buyer opened a complaint
    # 690-698: Tokopedia's fraud review holds the order (698 closes the review; the
    # next push says where it went).
    "690": ChannelState.on_hold,
    "691": ChannelState.on_hold,
    "695": ChannelState.on_hold,
    "698": ChannelState.on_hold,
    # 699: closed as invalid (not shipped within 25 days / not paid within 5): it will not proceed.
    "699": ChannelState.cancelled,
    "700": ChannelState.completed,
    "701": ChannelState.completed,  # closed by Tokopedia although the buyer did not confirm arrival
}


def state(raw: object) -> ChannelState:
    """A Tokopedia status code (int or its string) on the canonical lifecycle; unknown codes stay unknown."""
    code = status_code(raw)
    return STATES.get(code, ChannelState.unknown) if code is not None else ChannelState.unknown


def status_code(raw: object) -> str | None:
    """A status code as its decimal string; None for anything that is not one."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        return str(int(raw.strip()))
    return None
