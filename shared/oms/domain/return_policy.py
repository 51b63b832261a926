"""Returns as rules: which rule covers a line, whether it may come back, where it goes, and what the
buyer gets back. Plain functions over the order and the policy; no I/O.

What a unit is worth is what the buyer paid for it: the goods' share of the grand total (the total
less shipping), spread over the lines by their net amounts, so line and order discounts (and tax, if
the channel adds it) are prorated, and the sum of every unit's refund never exceeds what was paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from oms.domain.geo import distance_km, place
from oms.models.inventory import Node
from oms.models.order import STATE_RANK, Channel, ChannelState, FulfillmentStatus, Order
from oms.models.returns import (
    SELLER_FAULT,
    Destination,
    Payer,
    RefundPart,
    RefundStatus,
    RefundTiming,
    Resolution,
    ReturnMethod,
    ReturnPolicy,
    ReturnReason,
    ReturnRule,
    Rma,
    RmaLine,
    RmaStatus,
    ShipBackTo,
    ShippingRefund,
)

DELIVERED = frozenset({FulfillmentStatus.delivered, FulfillmentStatus.picked_up})
ON_THE_WAY = frozenset(
    {FulfillmentStatus.shipped, FulfillmentStatus.in_transit, FulfillmentStatus.out_for_delivery,
     FulfillmentStatus.failed_attempt}
)  # fmt: skip
ZERO_DECIMAL_CURRENCIES = frozenset({"IDR", "JPY", "KRW", "VND"})


@dataclass(frozen=True)
class SkuFacts:
    category: str | None = None
    supplier: str | None = None
    list_price: Decimal | None = None


@dataclass(frozen=True)
class Delivered:
    quantity: int
    at: datetime  # the latest delivery (or pickup) of the parcels holding the line
    node_id: str  # the node that shipped the latest of them


@dataclass(frozen=True)
class Refusal:
    line_id: str | None
    rule: str  # unknown_line, not_delivered, quantity, return_window, non_returnable, no_rule, drop_off_store ...
    message: str

    def as_detail(self) -> dict[str, str | None]:
        return {"line_id": self.line_id, "rule": self.rule, "message": self.message}


def quantum(currency: str) -> Decimal:
    return Decimal(1) if currency.upper() in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def delivered_lines(order: Order) -> dict[str, Delivered]:
    """Per line: the units delivered or picked up, when the last of them arrived, and from which node."""
    out: dict[str, Delivered] = {}
    # A marketplace that says the order arrived (or is being returned) is believed for parcels on their way:
    # its own tracking confirmed them, and its buyer's return request must not wait for our carrier's news.
    said = order.channel_state is not None and STATE_RANK[order.channel_state] >= STATE_RANK[ChannelState.delivered]
    arrived = DELIVERED | (ON_THE_WAY if said and order.channel_state is not ChannelState.cancelled else frozenset())
    for parcel in order.fulfillments:
        if parcel.status not in arrived:
            continue
        # A parcel on its way counts from its hand-over: earlier than its delivery, never later (the window
        # must not move with every update the channel sends).
        at = parcel.status_at or parcel.created_at
        for line in parcel.lines:
            was = out.get(line.line_id)
            if was is None:
                out[line.line_id] = Delivered(line.quantity, at, parcel.node_id)
            else:
                node = parcel.node_id if at >= was.at else was.node_id
                out[line.line_id] = Delivered(was.quantity + line.quantity, max(at, was.at), node)
    return out


def returned_lines(returns: Iterable[Rma]) -> dict[str, int]:
    """Units of each line already on the buyer's returns: what arrived once received, else what was announced.
    Transfer legs (units a store forwards to a return center) are not the buyer's returns."""
    out: dict[str, int] = {}
    for rma in returns:
        if rma.forwarded_from is not None or rma.status is RmaStatus.cancelled:
            continue
        for line in rma.lines:
            # Units refunded (or exchanged) on request stay returned even if fewer arrive: they were paid back.
            on_request = rma.refund.timing is RefundTiming.on_request
            counted = line.quantity if line.received is None or on_request else line.received
            out[line.line_id] = out.get(line.line_id, 0) + counted
    return out


def came_back(rma: Rma) -> dict[str, int]:
    """Units of each line an RMA brought back: what arrived, or what was announced if it was paid back on request.
    Nothing for a cancelled RMA or a transfer leg."""
    if rma.forwarded_from is not None or rma.status is RmaStatus.cancelled:
        return {}
    paid_ahead = rma.refund.timing is RefundTiming.on_request and rma.refund.status is not RefundStatus.pending
    out: dict[str, int] = {}
    for line in rma.lines:
        count = line.quantity if paid_ahead else (line.received or 0)
        out[line.line_id] = out.get(line.line_id, 0) + count
    return out


def unit_refunds(order: Order) -> dict[str, Decimal]:
    """What the buyer paid per unit of each line (rounded down to the currency's unit, never above it)."""
    goods = max(Decimal(0), order.totals.grand_total - order.totals.shipping)
    nets = {line.line_id: max(Decimal(0), line.net_total) for line in order.lines}
    total = sum(nets.values(), Decimal(0))
    step = quantum(order.currency)
    out: dict[str, Decimal] = {}
    for line in order.lines:
        share = goods * nets[line.line_id] / total if total > 0 else Decimal(0)
        out[line.line_id] = (share / line.quantity).quantize(step, rounding=ROUND_DOWN)
    return out


def rule_for(policy: ReturnPolicy, channel: Channel, category: str | None, reason: ReturnReason) -> ReturnRule | None:
    for rule in policy.rules:
        if rule.channels is not None and channel not in rule.channels:
            continue
        if rule.categories is not None and category not in rule.categories:
            continue
        if rule.reasons is not None and reason not in rule.reasons:
            continue
        return rule
    return None


def check_line(  # noqa: PLR0911 (one answer per rule, in the order they are checked)
    rule: ReturnRule | None,
    line_id: str,
    sku: str,
    quantity: int,
    delivered: Delivered | None,
    already: int,
    now: datetime,
) -> Refusal | None:
    """The first rule this line breaks, or None."""
    if delivered is None:
        return Refusal(line_id, "not_delivered", f"line {line_id} has not been delivered")
    if quantity > delivered.quantity - already:
        left = max(0, delivered.quantity - already)
        return Refusal(
            line_id,
            "quantity",
            f"line {line_id}: {quantity} asked, {delivered.quantity} delivered, {already} already returned "
            f"({left} may be returned)",
        )
    if rule is None:
        return Refusal(line_id, "no_rule", f"no return rule covers line {line_id} ({sku})")
    if not rule.returnable:
        return Refusal(line_id, "non_returnable", f"line {line_id} ({sku}) is not returnable (rule '{rule.name}')")
    if sku in rule.non_returnable_skus:
        return Refusal(line_id, "non_returnable", f"{sku} is not returnable (rule '{rule.name}')")
    closes = delivered.at + timedelta(days=rule.window_days)
    if now > closes:
        return Refusal(
            line_id,
            "return_window",
            f"line {line_id}: the return window of rule '{rule.name}' is {rule.window_days} days from delivery; "
            f"delivered {delivered.at.date().isoformat()}, closed {closes.date().isoformat()}",
        )
    return None


def return_centers(nodes: Mapping[str, Node], excluding: str | None = None) -> list[Node]:
    return [
        node
        for node in nodes.values()
        if node.enabled and node.accepts_returns and node.return_center and node.node_id != excluding
    ]


def nearest(candidates: list[Node], province: str | None, city: str | None, lat: object, lng: object) -> Node | None:
    """The candidate closest to a place (by great-circle distance; unknown places sort last, then by id)."""
    origin = place(province, city, lat, lng)

    def distance(node: Node) -> tuple[float, str]:
        where = place(node.province, node.city, node.lat, node.lng)
        if not (origin.located and where.located):
            return (float("inf"), node.node_id)
        return (distance_km(origin.lat, origin.lng, where.lat, where.lng), node.node_id)  # type: ignore[arg-type]

    return min(candidates, key=distance) if candidates else None


def route(
    order: Order,
    reason: ReturnReason,
    rule: ReturnRule,
    method: ReturnMethod,
    drop_off: Node | None,
    delivered: Delivered,
    facts: SkuFacts,
    nodes: Mapping[str, Node],
) -> Destination | None:
    """Where a line goes back to; None when no node can take it."""
    if method is ReturnMethod.store_drop_off and drop_off is not None:
        return Destination(node_id=drop_off.node_id, why="drop-off store")
    if reason is ReturnReason.defective and rule.defective_to_supplier and facts.supplier:
        return Destination(supplier=facts.supplier, why="supplier (vendor return)")
    if rule.ship_back_to is ShipBackTo.original_node:
        origin = nodes.get(delivered.node_id)
        if origin is not None and origin.enabled and origin.accepts_returns:
            return Destination(node_id=origin.node_id, why="original node")
    address = order.shipping_address
    if address is not None:
        center = nearest(return_centers(nodes), address.province, address.city, address.lat, address.lng)
    else:  # a pickup order: the return center nearest the store it was collected from
        store = nodes.get(delivered.node_id)
        center = nearest(return_centers(nodes), store.province, store.city, store.lat, store.lng) if store else None
    if center is None:
        return None
    return Destination(node_id=center.node_id, why="nearest return center")


def return_shipping_payer(rule: ReturnRule, reasons: Iterable[ReturnReason]) -> Payer:
    return Payer.seller if any(reason in SELLER_FAULT for reason in reasons) else rule.return_shipping_paid_by


def refund_amount(
    order: Order,
    rma: Rma,
    units: Mapping[str, int],
    refunded_elsewhere: Decimal,
    shipping_refunded_elsewhere: bool,
) -> tuple[Decimal, list[RefundPart]]:
    """The refund for `units` of each RMA line under the terms the RMA was accepted with, with its parts
    (fees negative; a limit is a part of its own, so they add up to the amount), never below 0 nor above
    what is left of the order's grand total once other refunds are taken off.

    * goods: the units times what the buyer paid per unit;
    * restocking fee: the rule's percentage of the goods on lines that are not the seller's fault;
    * return shipping: the RMA's fee (the buyer's, shipping back), once;
    * original shipping: per the rule, with the return that brings back the order's last delivered unit.
    """
    step = quantum(order.currency)
    terms = rma.terms
    goods = Decimal(0)
    restocking = Decimal(0)
    for line in rma.lines:
        count = units.get(line.line_id, 0)
        if count <= 0:
            continue
        value = line.unit_refund * count
        goods += value
        if line.reason not in SELLER_FAULT and terms.restocking_fee_pct > 0:
            restocking += (value * terms.restocking_fee_pct / 100).quantize(step, rounding=ROUND_HALF_UP)
    parts = [RefundPart(label="goods", amount=goods)]
    if restocking:
        parts.append(RefundPart(label="restocking fee", amount=-restocking))
    if goods > 0 and rma.return_shipping_fee > 0:
        parts.append(RefundPart(label="return shipping", amount=-rma.return_shipping_fee))
    shipping = goods > 0 and not shipping_refunded_elsewhere and order.totals.shipping > 0
    if shipping and _refunds_shipping(order, rma, units):
        parts.append(RefundPart(label="original shipping", amount=order.totals.shipping))
    total = sum((part.amount for part in parts), Decimal(0))
    left = max(Decimal(0), order.totals.grand_total - refunded_elsewhere)
    amount = min(max(Decimal(0), total), left)
    if amount != total:
        label = "not below zero" if total < 0 else "limited to what is left of the order's total"
        parts.append(RefundPart(label=label, amount=amount - total))
    return amount, parts


def _refunds_shipping(order: Order, rma: Rma, units: Mapping[str, int]) -> bool:
    wanted = rma.terms.refund_original_shipping
    seller_fault = any(line.reason in SELLER_FAULT and units.get(line.line_id, 0) > 0 for line in rma.lines)
    if wanted is ShippingRefund.never or (wanted is ShippingRefund.seller_fault and not seller_fault):
        return False
    # Only with the return that brings back everything delivered: what came back (or was paid back on request).
    delivered = delivered_lines(order)
    back = dict.fromkeys(delivered, 0)
    for other in order.returns:
        if other.rma_id == rma.rma_id or other.resolution is Resolution.exchange:
            continue  # exchanged units were replaced: the buyer still has the order's goods
        for line_id, count in came_back(other).items():
            if line_id in back:
                back[line_id] += count
    for line in rma.lines:  # this one: what arrived, or the units refunded now (on request)
        if line.line_id in back:
            back[line.line_id] += line.received if line.received is not None else units.get(line.line_id, 0)
    return bool(delivered) and all(back[line_id] >= got.quantity for line_id, got in delivered.items())


def line_from_request(
    line_id: str,
    sku: str,
    quantity: int,
    reason: ReturnReason,
    note: str | None,
    unit_refund: Decimal,
    rule: ReturnRule,
    exchange_sku: str | None,
) -> RmaLine:
    return RmaLine(
        line_id=line_id,
        sku=sku,
        quantity=quantity,
        reason=reason,
        note=note,
        unit_refund=unit_refund,
        rule=rule.name,
        exchange_sku=exchange_sku,
    )


def default_policy() -> ReturnPolicy:
    """Until ops save their own (PUT /returns/policy): food only when it is the seller's fault, marketplaces
    by their buyer-protection terms, everything else within 14 days."""
    seller_fault = sorted(SELLER_FAULT)
    marketplaces = [Channel.shopee, Channel.lazada, Channel.tiktok, Channel.tokopedia]
    return ReturnPolicy(
        rules=[
            ReturnRule(name="food, seller's fault", categories=["food"], reasons=seller_fault, window_days=3),
            ReturnRule(name="food", categories=["food"], returnable=False),
            ReturnRule(
                name="marketplaces",
                channels=marketplaces,
                window_days=15,
                return_shipping_paid_by=Payer.seller,
                defective_to_supplier=True,
            ),
            ReturnRule(name="default", window_days=14, return_shipping_fee=Decimal(15000), defective_to_supplier=True),
        ]
    )
