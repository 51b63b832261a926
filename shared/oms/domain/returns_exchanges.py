"""Exchanges: the same item in another size or colour instead of money back.

An exchange is asked for when the return is authorized (`exchange_refusal`), comes due when its refund
would (`exchange_settled`: the lines to send and the replacement order's fixed id) and is sent as a new
order through normal capture, and so sourcing (`exchange_draft`, captured by `ReturnEffects`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from oms.domain.capture import order_id_for
from oms.domain.return_policy import Refusal, SkuFacts
from oms.models.order import OWN_CHANNELS, Channel, Order, OrderDraft, OrderLine, Payment, PaymentStatus, Totals
from oms.models.returns import ExchangeLine, RefundStatus, Rma


def exchange_channel(order: Order) -> Channel:
    return order.channel if order.channel in OWN_CHANNELS else Channel.callcenter


def exchange_refusal(line_id: str, sku: str, exchange_sku: str, facts: dict[str, SkuFacts]) -> Refusal | None:
    """An exchange is for another size or colour at the same price; anything else is a return and a new order."""
    if exchange_sku not in facts:
        return Refusal(line_id, "unknown_sku", f"exchange SKU {exchange_sku} is not in the catalog")
    was, new = facts.get(sku, SkuFacts()).list_price, facts[exchange_sku].list_price
    if exchange_sku != sku and (was is None or new is None or was != new):
        return Refusal(
            line_id,
            "exchange_price",
            f"{exchange_sku} ({new if new is not None else 'no price'}) is not priced as {sku} "
            f"({was if was is not None else 'no price'}): return it and order the other",
        )
    return None


def exchange_settled(order: Order, rma: Rma, units: dict[str, int], now: datetime) -> Rma:
    """An exchange come due: the units owed (`units`, per line) as lines to send, under the replacement order's
    id (fixed by the RMA), and nothing to refund."""
    exchange = [
        ExchangeLine(
            line_id=line.line_id,
            sku=line.exchange_sku or line.sku,
            quantity=units[line.line_id],
            unit_price=line.unit_refund,
        )
        for line in rma.lines
        if units.get(line.line_id, 0) > 0
    ]
    order_id = order_id_for(exchange_channel(order).value, rma.rma_id) if exchange else None
    refund = rma.refund.model_copy(update={"status": RefundStatus.not_due, "settled_at": now})
    return rma.model_copy(update={"refund": refund, "exchange_order_id": order_id, "exchange_lines": exchange})


def exchange_draft(order: Order, rma: Rma) -> OrderDraft:
    """The replacement order as capture takes it: the RMA is its channel order id, paid by the return."""
    due = rma.refund.settled_at or rma.updated_at  # when the exchange came due: fixed, whoever captures
    lines = [
        OrderLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, unit_price=x.unit_price)
        for x in rma.exchange_lines
    ]
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    return OrderDraft(
        channel=exchange_channel(order),
        channel_order_id=rma.rma_id,
        channel_updated_at=due,
        placed_at=due,
        currency=order.currency,
        customer=order.customer,
        shipping_address=order.shipping_address,
        delivery_method=order.delivery_method,
        service_level=order.service_level,
        pickup_node_id=order.pickup_node_id,
        payment=Payment(status=PaymentStatus.paid, method="exchange"),
        lines=lines,
        totals=Totals(subtotal=total, grand_total=total),
        notes=f"exchange for {rma.rma_id} (order {order.order_number})",
        tags=["exchange"],
    )
