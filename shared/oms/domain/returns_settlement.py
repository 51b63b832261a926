"""What an RMA is owed, and when: its refund (or its exchange) comes due at the moment its rule's timing
names (on request, on receipt, on inspection), for the units that count then; and when an RMA is done.

Pure functions of the order: every step's write (`RmaSteps`, and the authorization) applies them before
writing, so what is due is decided under the same version check as the step that made it due.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from oms.channels.registry import MARKETPLACES
from oms.domain.return_policy import refund_amount
from oms.domain.returns_exchanges import exchange_settled
from oms.models.order import Channel, ChannelState, Order
from oms.models.returns import (
    SELLER_FAULT,
    Condition,
    RefundMethod,
    RefundStatus,
    RefundTiming,
    Resolution,
    Rma,
    RmaStatus,
)

# Channels whose buyers pay online through the retailer's payment provider.
GATEWAY_CHANNELS = frozenset({Channel.web, Channel.social, Channel.callcenter})
# Refunds that take from what is left of the order: a failed one too (it is retried or settled by hand).
_COUNTED = frozenset({RefundStatus.requested, RefundStatus.completed, RefundStatus.failed})


def refund_method(order: Order) -> RefundMethod:
    if order.channel in MARKETPLACES:
        return RefundMethod.channel  # the marketplace refunds its buyer
    if order.payment.cod or order.channel not in GATEWAY_CHANNELS or not order.payment.reference:
        return RefundMethod.manual  # cash, the POS, the web store's own admin, a payment we cannot point at
    return RefundMethod.gateway


def settle_due(order: Order, rma_ids: list[str], moment: RefundTiming, now: datetime) -> Order:
    """Refunds (or exchanges) whose moment has come: requested with their amount."""
    returns = list(order.returns)
    for index, rma in enumerate(returns):
        if rma.rma_id not in rma_ids or rma.refund.status is not RefundStatus.pending or not _due(rma, moment):
            continue
        units = _refundable_units(rma, moment)
        if rma.resolution is Resolution.exchange:
            returns[index] = exchange_settled(order, rma, units, now)
            continue
        if rma.refund.method is RefundMethod.channel and order.channel_state is ChannelState.returned:
            # The marketplace already refunded its buyer (it says returned): nothing for the OMS to pay.
            settled = {
                "status": RefundStatus.completed,
                "requested_at": now,
                "settled_at": now,
                "reference": f"{order.channel.value}: returned",
            }
            returns[index] = rma.model_copy(update={"refund": rma.refund.model_copy(update=settled)})
            continue
        others = [r for r in returns if r.rma_id != rma.rma_id]
        refunded = sum((r.refund.amount for r in others if r.refund.status in _COUNTED), Decimal(0))
        shipping = any(
            p.label == "original shipping" for r in others if r.refund.status in _COUNTED for p in r.refund.parts
        )
        snapshot = order.model_copy(update={"returns": returns})
        amount, parts = refund_amount(snapshot, rma, units, refunded, shipping)
        status = RefundStatus.requested if amount > 0 else RefundStatus.not_due
        refund = rma.refund.model_copy(
            update={
                "status": status,
                "amount": amount,
                "parts": parts,
                "requested_at": now,
                "attempt": 1 if status is RefundStatus.requested else 0,
                "settled_at": None if status is RefundStatus.requested else now,
            }
        )
        returns[index] = rma.model_copy(update={"refund": refund})
    return order.model_copy(update={"returns": returns})


def close_finished(order: Order) -> Order:
    """received -> inspected once every received unit has its disposition; inspected -> closed once the
    refund is settled (or nothing is owed)."""
    returns = []
    for rma in order.returns:
        status = rma.status
        if status is RmaStatus.received and _all_inspected(rma):
            status = RmaStatus.inspected
        if status is RmaStatus.inspected and rma.refund.status in (RefundStatus.completed, RefundStatus.not_due):
            status = RmaStatus.closed
        returns.append(rma if status is rma.status else rma.model_copy(update={"status": status}))
    return order.model_copy(update={"returns": returns})


def _due(rma: Rma, moment: RefundTiming) -> bool:
    timing = rma.refund.timing
    if moment is RefundTiming.on_request:
        return timing is RefundTiming.on_request
    if moment is RefundTiming.on_receipt:
        # Inspection-timed refunds of a receipt with nothing in it (or a supplier's, inspected on arrival).
        return timing is RefundTiming.on_receipt or (timing is RefundTiming.on_inspection and _all_inspected(rma))
    return timing is RefundTiming.on_inspection and _all_inspected(rma)


def _all_inspected(rma: Rma) -> bool:
    if rma.status in (RmaStatus.authorized, RmaStatus.cancelled):
        return False
    return all(line.inspected >= (line.received or 0) for line in rma.lines)


def _refundable_units(rma: Rma, moment: RefundTiming) -> dict[str, int]:
    if moment is RefundTiming.on_request:
        return {line.line_id: line.quantity for line in rma.lines}
    if moment is RefundTiming.on_receipt and rma.refund.timing is RefundTiming.on_receipt:
        return {line.line_id: line.received or 0 for line in rma.lines}
    out = {}
    for line in rma.lines:
        count = line.received or 0
        if line.reason not in SELLER_FAULT and not rma.terms.refund_damaged_by_buyer:
            count -= sum(i.quantity for i in line.inspections if i.condition is Condition.damaged)
        out[line.line_id] = max(0, count)
    return out
