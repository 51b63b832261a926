"""Authorizing a return: every line checked against the return policy, each routed to where it goes back
(a node, a return center, the supplier), and one RMA recorded per place and rule, on the order, in one
write. A marketplace buyer's request (`from_channel`) is authorized the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from oms.channels.registry import MARKETPLACES
from oms.domain.aggregate import update_order
from oms.domain.return_policy import (
    Refusal,
    SkuFacts,
    check_line,
    delivered_lines,
    line_from_request,
    return_shipping_payer,
    returned_lines,
    route,
    rule_for,
    unit_refunds,
)
from oms.domain.returns_effects import ReturnEffects
from oms.domain.returns_exchanges import exchange_refusal
from oms.domain.returns_settlement import refund_method, settle_due
from oms.errors import Forbidden, OmsError
from oms.models.inventory import Node
from oms.models.order import Channel, FlagCode, Order
from oms.models.returns import (
    SELLER_FAULT,
    Destination,
    Payer,
    Refund,
    RefundTiming,
    Resolution,
    ReturnAccepted,
    ReturnCreate,
    ReturnLineRequest,
    ReturnMethod,
    ReturnPolicy,
    ReturnReason,
    ReturnRule,
    Rma,
    RmaLine,
)
from oms.ports import OrderRepository

_log = logging.getLogger("oms")  # Powertools' logger (service "oms") when the handler set it up


class ReturnRefused(OmsError):
    """422 naming every rule the request breaks (details: line_id, rule, message)."""

    status_code = 422
    code = "return_refused"

    def __init__(self, refusals: list[Refusal]) -> None:
        first = refusals[0]
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        super().__init__(f"{first.rule}: {first.message}{more}", details=[r.as_detail() for r in refusals])
        self.refusals = refusals


class ReturnAuthorization:
    def __init__(
        self,
        orders: OrderRepository,
        effects: ReturnEffects,
        policy: Callable[[], ReturnPolicy],
        nodes: Callable[[], dict[str, Node]],
        sku_facts: Callable[[set[str]], dict[str, SkuFacts]],
        clock: Callable[[], datetime],
    ) -> None:
        self.orders = orders
        self.effects = effects
        self.policy = policy
        self.nodes = nodes
        self.sku_facts = sku_facts
        self.clock = clock

    def create(self, request: ReturnCreate, by: str, acting_for: set[Channel] | None = None) -> ReturnAccepted:
        """Check every line against the policy, route each, and record one RMA per place and rule."""
        found: dict[str, list] = {}

        def authorized(order: Order) -> Order:
            if acting_for is not None and order.channel not in acting_for:
                raise Forbidden(f"this key may not return {order.channel.value} orders")
            if request.request_id is not None:
                earlier = [rma for rma in order.returns if rma.request_id == request.request_id]
                if earlier:
                    found["earlier"] = earlier
                    return order
            now = self.clock()
            rmas = self._authorize(order, request, by, now)
            update = {"returns": [*order.returns, *rmas], "updated_at": now, "version": order.version + 1,
                      "changed_by": by}  # fmt: skip
            found["created"] = [rma.rma_id for rma in rmas]
            return settle_due(order.model_copy(update=update), found["created"], RefundTiming.on_request, now)

        done = update_order(self.orders, request.order_id, authorized)
        if not done.written:
            return ReturnAccepted(outcome="duplicate", order_id=done.before.order_id, rmas=found["earlier"])
        created = found["created"]
        self.effects.after_write(done.before, done.after, created)
        rmas = [r for r in done.after.returns if r.rma_id in created]
        return ReturnAccepted(outcome="created", order_id=done.after.order_id, rmas=rmas)

    def _authorize(self, order: Order, request: ReturnCreate, by: str, now: datetime) -> list[Rma]:
        policy = self.policy()
        nodes = self.nodes()
        lines = {line.line_id: line for line in order.lines}
        delivered = delivered_lines(order)
        already = returned_lines(order.returns)
        skus = {lines[line.line_id].sku for line in request.lines if line.line_id in lines}
        skus |= {line.exchange_sku for line in request.lines if line.exchange_sku}
        facts = self.sku_facts(skus)
        refusals: list[Refusal] = []
        drop_off = None
        if request.drop_off_node_id is not None:
            drop_off = nodes.get(request.drop_off_node_id)
            if drop_off is None or not drop_off.enabled or not drop_off.accepts_returns:
                refusals.append(
                    Refusal(None, "drop_off_store", f"{request.drop_off_node_id} is not a node that accepts returns")
                )
        units = unit_refunds(order)
        routed: list[tuple[RmaLine, Destination, ReturnRule]] = []
        for wanted in request.lines:
            line = lines.get(wanted.line_id)
            if line is None:
                refusals.append(Refusal(wanted.line_id, "unknown_line", f"order has no line {wanted.line_id}"))
                continue
            sku_facts = facts.get(line.sku, SkuFacts())
            rule = rule_for(policy, order.channel, sku_facts.category, wanted.reason)
            got = delivered.get(line.line_id)
            refusal = check_line(rule, line.line_id, line.sku, wanted.quantity, got, already.get(line.line_id, 0), now)
            if refusal is None and request.resolution is Resolution.exchange:
                refusal = exchange_refusal(line.line_id, line.sku, wanted.exchange_sku or line.sku, facts)
            if refusal is not None:
                refusals.append(refusal)
                continue
            assert rule is not None and got is not None
            destination = route(order, wanted.reason, rule, request.method, drop_off, got, sku_facts, nodes)
            if destination is None:
                refusals.append(Refusal(line.line_id, "no_return_node", "no enabled node accepts returns"))
                continue
            exchange = (wanted.exchange_sku or line.sku) if request.resolution is Resolution.exchange else None
            rma_line = line_from_request(
                line.line_id, line.sku, wanted.quantity, wanted.reason, wanted.note, units[line.line_id], rule, exchange
            )
            routed.append((rma_line, destination, rule))
        if refusals:
            raise ReturnRefused(refusals)
        return self._rmas(order, request, routed, by, now)

    @staticmethod
    def _rmas(
        order: Order,
        request: ReturnCreate,
        routed: list[tuple[RmaLine, Destination, ReturnRule]],
        by: str,
        now: datetime,
    ) -> list[Rma]:
        # One RMA per place and rule: each RMA follows one rule's terms (timing, fees) from start to end.
        groups: dict[tuple[str, str], list[tuple[RmaLine, Destination, ReturnRule]]] = {}
        for entry in routed:
            groups.setdefault((entry[1].key, entry[2].name), []).append(entry)
        # Return shipping is one parcel per place: the seller pays it if any line going there is the seller's
        # fault; else the buyer pays the dearest fee of the rules that make the buyer pay (in the order's
        # currency), taken once, from the first RMA of that place.
        payers: dict[str, Payer] = {}
        fees: dict[str, Decimal] = {}
        for key in {entry[1].key for entry in routed}:
            there = [entry for entry in routed if entry[1].key == key]
            payer = Payer.seller
            if not any(entry[0].reason in SELLER_FAULT for entry in there):
                payer = max((return_shipping_payer(entry[2], [entry[0].reason]) for entry in there),
                            key=lambda p: p is Payer.buyer)  # fmt: skip
            payers[key] = payer
            charged = [
                e[2].return_shipping_fee
                for e in there
                if e[2].return_shipping_paid_by is Payer.buyer and e[2].currency == order.currency
            ]
            if payer is Payer.buyer and request.method is ReturnMethod.ship_back:
                fees[key] = max(charged, default=Decimal(0))
        method = refund_method(order)
        rmas: list[Rma] = []
        for n, group in enumerate(groups.values(), start=len(order.returns) + 1):
            destination, rule = group[0][1], group[0][2]
            rmas.append(
                Rma(
                    rma_id=f"RMA-{order.order_number}-{n}",
                    method=request.method,
                    resolution=request.resolution,
                    destination=destination,
                    lines=[entry[0] for entry in group],
                    return_shipping_paid_by=payers[destination.key],
                    return_shipping_fee=fees.pop(destination.key, Decimal(0)),
                    terms=rule,
                    refund=Refund(method=method, currency=order.currency, timing=rule.refund_timing),
                    created_at=now,
                    updated_at=now,
                    by=by,
                    request_id=request.request_id,
                    channel_return_id=request.channel_return_id,
                )
            )
        return rmas

    def from_channel(self, order_id: str) -> ReturnAccepted | None:
        """A marketplace buyer's return request (the order flagged `return_requested`) as an RMA: every
        delivered unit not yet on a return, shipped back, settled by the marketplace. None when nothing is
        left to return or the order is not a marketplace's; a refusal by the policy is left to a person."""
        order = self.orders.get(order_id, consistent=True)
        if order is None or order.channel not in MARKETPLACES:
            return None
        flag = next((f for f in order.flags if f.code is FlagCode.return_requested), None)
        if flag is None:
            return None
        already = returned_lines(order.returns)
        note = f"asked in {order.channel.value} (status {order.channel_status or 'not given'})"
        lines = [
            ReturnLineRequest(
                line_id=line_id, quantity=got.quantity - already.get(line_id, 0), reason=ReturnReason.other, note=note
            )
            for line_id, got in sorted(delivered_lines(order).items())
            if got.quantity > already.get(line_id, 0)
        ]
        by = f"channel:{order.channel.value}"
        request_id = f"{order.channel.value}-return-{flag.since.isoformat()}"
        lines = lines[:100]  # a request's limit; an order with more lines is rare and finished by a person
        while lines:
            request = ReturnCreate(order_id=order_id, lines=lines, method=ReturnMethod.ship_back, request_id=request_id)
            try:
                return self.create(request, by)
            except ReturnRefused as exc:
                # Lines the policy refuses (food, say) stay for a person; the others come back.
                refused = {r.line_id for r in exc.refusals if r.line_id is not None}
                kept = [line for line in lines if line.line_id not in refused]
                if len(kept) == len(lines):
                    raise
                _log.warning(
                    "a marketplace return's lines refused by the policy",
                    extra={"order_id": order_id, "rules": sorted({r.rule for r in exc.refusals})},
                )
                lines = kept
        return None
