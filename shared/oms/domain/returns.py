"""Returns: authorize (policy), route, receive, inspect and dispose, and settle the refund.

The RMAs live on their order (`Order.returns`). Every step reads the order consistently, decides, and
writes it back conditional on its version (a concurrent change makes it read and decide again), so a
return can never take more than was delivered, and the orders stream turns each step into timeline
entries and events (ReturnAuthorized ... RefundRequested ... ReturnClosed) without a second write to
lose.

What a step sets off outside the order is recorded on the order first, with a fixed key, and done
after the write: a resellable unit's restock (movement <rma>-<line>-<n>) and an exchange's
replacement order (channel order id = the RMA id). The API does both at once; the returns worker does
them again from the events (ReturnUnitsInspected, ExchangeRequested), so a crash in between loses
nothing and a repeat changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from oms.channels.registry import MARKETPLACES
from oms.domain.aggregate import update_order
from oms.domain.capture import order_id_for
from oms.domain.return_policy import (
    Refusal,
    SkuFacts,
    check_line,
    delivered_lines,
    line_from_request,
    nearest,
    refund_amount,
    return_centers,
    return_shipping_payer,
    returned_lines,
    route,
    rule_for,
    unit_refunds,
)
from oms.errors import Conflict, Forbidden, NotFound, OmsError
from oms.models.inventory import Node
from oms.models.order import (
    OWN_CHANNELS,
    Channel,
    ChannelState,
    FlagCode,
    Order,
    OrderDraft,
    OrderLine,
    Payment,
    PaymentStatus,
    Totals,
)
from oms.models.returns import (
    SELLER_FAULT,
    Condition,
    Destination,
    Disposition,
    ExchangeLine,
    Inspection,
    Payer,
    Refund,
    RefundMethod,
    RefundOutcomeKind,
    RefundReport,
    RefundStatus,
    RefundTiming,
    Resolution,
    ReturnAccepted,
    ReturnCreate,
    ReturnInspection,
    ReturnLineRequest,
    ReturnMethod,
    ReturnPolicy,
    ReturnReason,
    ReturnReceipt,
    ReturnRule,
    Rma,
    RmaLine,
    RmaStatus,
)
from oms.ports import OrderRepository

_log = logging.getLogger("oms")  # Powertools' logger (service "oms") when the handler set it up
# Channels whose buyers pay online through the retailer's payment provider.
GATEWAY_CHANNELS = frozenset({Channel.web, Channel.social, Channel.callcenter})
PAYMENTS = "payments"  # who the provider's answers are recorded as


class ReturnRefused(OmsError):
    """422 naming every rule the request breaks (details: line_id, rule, message)."""

    status_code = 422
    code = "return_refused"

    def __init__(self, refusals: list[Refusal]) -> None:
        first = refusals[0]
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        super().__init__(f"{first.rule}: {first.message}{more}", details=[r.as_detail() for r in refusals])
        self.refusals = refusals


class ReturnStepRefused(OmsError):
    """422 for a receipt or an inspection that does not fit the RMA (the rule named)."""

    status_code = 422
    code = "return_step_refused"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}", details={"rule": rule})


class Inventory(Protocol):
    def restock(self, sku: str, node_id: str, quantity: int, movement_id: str, now: datetime) -> str: ...


def rma_order_number(rma_id: str) -> str | None:
    """RMA-<order number>-<n> -> the order number."""
    if not rma_id.startswith("RMA-") or "-" not in rma_id[4:]:
        return None
    number, _, n = rma_id[4:].rpartition("-")
    return number if n.isdigit() and number else None


def refund_method(order: Order) -> RefundMethod:
    if order.channel in MARKETPLACES:
        return RefundMethod.channel  # the marketplace refunds its buyer
    if order.payment.cod or order.channel not in GATEWAY_CHANNELS or not order.payment.reference:
        return RefundMethod.manual  # cash, the POS, the web store's own admin, a payment we cannot point at
    return RefundMethod.gateway


def exchange_channel(order: Order) -> Channel:
    return order.channel if order.channel in OWN_CHANNELS else Channel.callcenter


class ReturnsService:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: Inventory,
        policy: Callable[[], ReturnPolicy],
        nodes: Callable[[], dict[str, Node]],
        sku_facts: Callable[[set[str]], dict[str, SkuFacts]],
        capture: Callable[[OrderDraft], str] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.policy = policy
        self.nodes = nodes
        self.sku_facts = sku_facts
        self.capture = capture
        self.clock = clock

    # ------------------------------------------------------------ authorize

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
            return self._settle_due(order.model_copy(update=update), found["created"], RefundTiming.on_request, now)

        done = update_order(self.orders, request.order_id, authorized)
        if not done.written:
            return ReturnAccepted(outcome="duplicate", order_id=done.before.order_id, rmas=found["earlier"])
        created = found["created"]
        self._after_write(done.before, done.after, created)
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
                refusal = _exchange_refusal(line.line_id, line.sku, wanted.exchange_sku or line.sku, facts)
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

    # ------------------------------------------------------------ read

    def get(self, rma_id: str, consistent: bool = False) -> tuple[Order, Rma]:
        number = rma_order_number(rma_id)
        order_id = self.orders.order_id_for_number(number) if number else None
        order = self.orders.get(order_id, consistent=consistent) if order_id else None
        rma = next((r for r in order.returns if r.rma_id == rma_id), None) if order else None
        if order is None or rma is None:
            raise NotFound(f"no RMA {rma_id}")
        return order, rma

    # ------------------------------------------------------------ receive

    def receive(self, rma_id: str, receipt: ReturnReceipt, by: str, nodes_acted_for: set[str] | None = None) -> Rma:
        """Record what arrived (it may be less than announced); once per RMA."""

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            self._at_node(rma, nodes_acted_for)
            if rma.status is RmaStatus.cancelled:
                raise Conflict(f"RMA {rma_id} was cancelled", details={"rule": "cancelled"})
            if rma.status is not RmaStatus.authorized:
                raise Conflict(
                    f"RMA {rma_id} was received at {rma.received_at} by {rma.received_by}; a receipt is recorded "
                    f"once (inspect it next)",
                    details={"rule": "received_once"},
                )
            announced = {line.line_id: line for line in rma.lines}
            for got in receipt.lines:
                line = announced.get(got.line_id)
                if line is None:
                    raise ReturnStepRefused("not_on_rma", f"line {got.line_id} is not on {rma_id}")
                if got.quantity > line.quantity:
                    raise ReturnStepRefused(
                        "more_than_announced",
                        f"line {got.line_id}: {line.quantity} announced, {got.quantity} received; "
                        "return the rest on a new return",
                    )
            arrived = {got.line_id: got.quantity for got in receipt.lines}
            lines = [line.model_copy(update={"received": arrived.get(line.line_id, 0)}) for line in rma.lines]
            received = rma.model_copy(
                update={
                    "lines": lines,
                    "status": RmaStatus.received,
                    "received_at": now,
                    "received_by": by,
                    "receipt_note": receipt.note,
                    "unexpected": receipt.unexpected,
                    "updated_at": now,
                }
            )
            if received.destination.supplier:  # the supplier takes everything as a vendor claim
                lines = [
                    _inspected(
                        line,
                        Condition.defective,
                        line.received or 0,
                        Disposition.vendor_claim,
                        now,
                        by,
                        supplier=received.destination.supplier,
                    )
                    for line in received.lines
                ]
                received = received.model_copy(update={"lines": lines})
            return received

        return self._step(rma_id, apply, by, RefundTiming.on_receipt)

    # ------------------------------------------------------------ inspect

    def inspect(
        self, rma_id: str, inspection: ReturnInspection, by: str, nodes_acted_for: set[str] | None = None
    ) -> Rma:
        """A condition per unit, and what becomes of it: resellable units back to the receiving node's stock
        (or on to a return center if it does not sell returns), the rest kept out of stock."""
        forwards: list[Rma] = []

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            forwards.clear()
            self._at_node(rma, nodes_acted_for)
            done = inspection.inspection_id is not None and any(
                entry.inspection_id == inspection.inspection_id for line in rma.lines for entry in line.inspections
            )
            if done:
                return rma  # this inspection was recorded before: a retry
            if rma.status in (RmaStatus.authorized, RmaStatus.cancelled):
                raise Conflict(
                    f"RMA {rma_id} has not been received; receive it first", details={"rule": "not_received"}
                )
            if rma.status is not RmaStatus.received:
                raise Conflict(
                    f"RMA {rma_id} is {rma.status.value}: every received unit is inspected",
                    details={"rule": "inspected"},
                )
            by_line = {line.line_id: line for line in rma.lines}
            asked: dict[str, int] = {}
            for units in inspection.units:
                if units.line_id not in by_line:
                    raise ReturnStepRefused("not_on_rma", f"line {units.line_id} is not on {rma_id}")
                asked[units.line_id] = asked.get(units.line_id, 0) + units.quantity
            for line_id, count in asked.items():
                line = by_line[line_id]
                if count > (line.received or 0) - line.inspected:
                    raise ReturnStepRefused(
                        "not_received",
                        f"line {line_id}: {line.received or 0} received, {line.inspected} inspected before, "
                        f"{count} inspected now",
                    )
            node = self.nodes().get(rma.destination.node_id or "")
            facts = self.sku_facts({line.sku for line in rma.lines})
            lines = dict(by_line)
            position = {line.line_id: n for n, line in enumerate(rma.lines, start=1)}
            resellable_elsewhere: list[tuple[RmaLine, int]] = []
            for units in inspection.units:
                line = lines[units.line_id]
                disposition, supplier = self._disposition(rma, line, units.condition, node, facts)
                movement = None
                if disposition is Disposition.restocked:
                    # Fixed here, under the version check: each entry has its own, whoever writes first.
                    movement = f"RET-{rma.rma_id}-{position[line.line_id]}-{len(line.inspections)}"
                if disposition is Disposition.forwarded:
                    resellable_elsewhere.append((line, units.quantity))
                lines[units.line_id] = _inspected(
                    line,
                    units.condition,
                    units.quantity,
                    disposition,
                    now,
                    by,
                    note=units.note,
                    movement_id=movement,
                    supplier=supplier,
                    inspection_id=inspection.inspection_id,
                )
            if resellable_elsewhere:
                forward = self._forward(order, rma, resellable_elsewhere, by, now)
                forwards.append(forward)
                lines = {line_id: _forwarded_to(line, forward.rma_id) for line_id, line in lines.items()}
            return rma.model_copy(update={"lines": [lines[line.line_id] for line in rma.lines], "updated_at": now})

        return self._step(rma_id, apply, by, RefundTiming.on_inspection, extra=lambda: forwards)

    @staticmethod
    def _disposition(
        rma: Rma, line: RmaLine, condition: Condition, node: Node | None, facts: dict[str, SkuFacts]
    ) -> tuple[Disposition, str | None]:
        if rma.destination.supplier:
            return Disposition.vendor_claim, rma.destination.supplier
        if condition is Condition.resellable:
            if node is None:
                raise Conflict(
                    f"{rma.destination.node_id} is no longer a node: resellable units cannot be placed",
                    details={"rule": "no_node"},
                )
            if not node.restocks_returns:
                return Disposition.forwarded, None
            if line.sku not in facts:
                raise ReturnStepRefused(
                    "unknown_sku", f"{line.sku} is not in the catalog: it cannot be restocked (inspect it as refurbish)"
                )
            return Disposition.restocked, None
        if condition is Condition.refurbish:
            return Disposition.refurbish, None
        if condition is Condition.defective:
            supplier = facts.get(line.sku, SkuFacts()).supplier
            return (Disposition.vendor_claim, supplier) if supplier else (Disposition.quarantined, None)
        return Disposition.quarantined, None

    def _forward(self, order: Order, rma: Rma, units: list[tuple[RmaLine, int]], by: str, now: datetime) -> Rma:
        """A transfer leg: resellable units from a node that does not sell returns to a return center."""
        here = self.nodes().get(rma.destination.node_id or "")
        centers = return_centers(self.nodes(), excluding=rma.destination.node_id)
        center = nearest(centers, here.province, here.city, here.lat, here.lng) if here else None
        if center is None:
            raise Conflict(
                f"{rma.destination.node_id} does not sell returns and no return center takes them",
                details={"rule": "no_return_center"},
            )
        counts: dict[str, int] = {}
        templates: dict[str, RmaLine] = {}
        for line, count in units:  # one line may have several resellable entries: one transfer line each
            counts[line.line_id] = counts.get(line.line_id, 0) + count
            templates.setdefault(line.line_id, line)
        lines = [
            line.model_copy(
                update={"quantity": counts[line_id], "received": None, "inspections": [], "exchange_sku": None}
            )
            for line_id, line in templates.items()
        ]
        return Rma(
            rma_id=f"RMA-{order.order_number}-{len(order.returns) + 1}",
            method=ReturnMethod.ship_back,
            resolution=Resolution.refund,
            destination=Destination(node_id=center.node_id, why=f"forwarded from {rma.destination.node_id}"),
            lines=lines,
            return_shipping_paid_by=Payer.seller,
            terms=rma.terms,
            refund=Refund(
                method=rma.refund.method,
                status=RefundStatus.not_due,
                currency=rma.refund.currency,
                timing=rma.refund.timing,
            ),
            created_at=now,
            updated_at=now,
            by=by,
            forwarded_from=rma.rma_id,
        )

    # ------------------------------------------------------------ cancel

    def cancel(self, rma_id: str, reason: str, by: str) -> Rma:
        """Withdraw an RMA before anything arrived or was paid back: its units may be returned again."""

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            if rma.status is RmaStatus.cancelled:
                return rma
            if rma.forwarded_from is not None:
                raise Conflict(f"RMA {rma_id} carries {rma.forwarded_from}'s resellable units between nodes: "
                               "receive it", details={"rule": "transfer"})  # fmt: skip
            if rma.status is not RmaStatus.authorized:
                raise Conflict(
                    f"RMA {rma_id} is {rma.status.value}: only a return not yet received is cancelled",
                    details={"rule": "received"},
                )
            if rma.refund.status in (RefundStatus.requested, RefundStatus.completed) or rma.exchange_order_id:
                raise Conflict(
                    f"RMA {rma_id} was already refunded or exchanged on request: receive what arrives (0 units "
                    "if nothing) instead",
                    details={"rule": "settled_on_request"},
                )
            refund = rma.refund.model_copy(update={"status": RefundStatus.not_due, "settled_at": now})
            return rma.model_copy(
                update={
                    "status": RmaStatus.cancelled,
                    "cancelled_at": now,
                    "cancel_reason": reason,
                    "refund": refund,
                    "updated_at": now,
                }
            )

        return self._step(rma_id, apply, by, None)

    def expire(self, rma_ids: list[str], now: datetime) -> tuple[list[str], list[str]]:
        """Cancel the listed RMAs (authorized longer than the policy allows): (cancelled, kept). One refunded or
        exchanged on request, or that moved meanwhile, is kept for a person."""
        days = self.policy().expire_after_days
        cancelled, kept = [], []
        for rma_id in rma_ids:
            try:
                _, rma = self.get(rma_id, consistent=True)
                if rma.status is not RmaStatus.authorized or now - rma.created_at < timedelta(days=days):
                    kept.append(rma_id)
                    continue
                self.cancel(rma_id, f"nothing arrived within {days} days", "returns:expiry")
                cancelled.append(rma_id)
            except (Conflict, NotFound):
                kept.append(rma_id)
        return cancelled, kept

    # ------------------------------------------------------------ refunds

    def report_refund(self, rma_id: str, report: RefundReport, by: str, attempt: int | None = None) -> Rma:
        """The refund's outcome: from the payment provider (through the worker, with its attempt), or from a
        person for refunds settled outside the OMS (the marketplace, cash, the web store's admin)."""

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            refund = rma.refund
            from_provider = attempt is not None
            declined_settled = refund.status is RefundStatus.failed and report.outcome is RefundOutcomeKind.completed
            if refund.method is RefundMethod.gateway and not from_provider and not declined_settled:
                raise Conflict(
                    f"the refund of {rma_id} is paid by the payment provider; its answer is recorded by itself "
                    "(a declined one is retried with POST /returns/{rma_id}/refund/retry, or paid another way and "
                    "reported completed here)",
                    details={"rule": "provider_refund"},
                )
            wanted = RefundStatus.completed if report.outcome is RefundOutcomeKind.completed else RefundStatus.failed
            if refund.status is wanted and (attempt is None or attempt == refund.attempt):
                return rma  # a repeat
            if from_provider and attempt != refund.attempt:
                if wanted is not RefundStatus.completed or refund.status is RefundStatus.completed:
                    return rma  # an older attempt's failure (or a late answer once paid): nothing to record

                _log.warning("an older refund attempt was paid", extra={"rma_id": rma_id, "attempt": attempt})
            elif refund.status is not RefundStatus.requested and not (
                refund.status is RefundStatus.failed and wanted is RefundStatus.completed
            ):
                if from_provider:
                    return rma  # settled meanwhile: the provider's late answer changes nothing
                raise Conflict(
                    f"the refund of {rma_id} is {refund.status.value}: nothing to settle",
                    details={"rule": "refund_not_requested"},
                )
            update = {
                "status": wanted,
                "settled_at": now,
                "reference": report.reference or refund.reference,
                "failure": report.reason if wanted is RefundStatus.failed else None,
            }
            if not from_provider and refund.method is RefundMethod.gateway:
                update["method"] = RefundMethod.manual  # declined by the provider, then paid another way
            return rma.model_copy(update={"refund": refund.model_copy(update=update), "updated_at": now})

        return self._step(rma_id, apply, by, None)

    def retry_refund(self, rma_id: str, by: str) -> Rma:
        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            if rma.refund.status is not RefundStatus.failed:
                raise Conflict(
                    f"the refund of {rma_id} is {rma.refund.status.value}; only a failed one is retried",
                    details={"rule": "refund_not_failed"},
                )
            refund = rma.refund.model_copy(
                update={
                    "status": RefundStatus.requested,
                    "requested_at": now,
                    "attempt": rma.refund.attempt + 1,
                    "failure": None,
                    "settled_at": None,
                }
            )
            return rma.model_copy(update={"refund": refund, "updated_at": now})

        return self._step(rma_id, apply, by, None)

    def channel_refunded(self, order_id: str) -> list[str]:
        """The marketplace says the order is returned (it refunded its buyer): its requested refunds are settled."""
        order = self.orders.get(order_id, consistent=True)
        if order is None or order.channel_state is not ChannelState.returned:
            return []
        settled = []
        for rma in order.returns:
            if rma.refund.method is RefundMethod.channel and rma.refund.status is RefundStatus.requested:
                report = RefundReport(outcome=RefundOutcomeKind.completed, reference=f"{order.channel.value}: returned")
                self.report_refund(rma.rma_id, report, f"channel:{order.channel.value}")
                settled.append(rma.rma_id)
        return settled

    # ------------------------------------------------------------ what follows a write

    def restock_inspected(self, rma: Rma, only: set[str] | None = None) -> int:
        """Apply the restocks an RMA recorded (each movement once, whoever asks; `only` these movements): the
        units restocked now. Each movement on its own: one the inventory refuses for good (the node or the SKU
        gone, its id taken) is logged for a person and the others go on; a passing failure (throttling, an
        outage) is raised after the rest were tried, so the event is retried."""
        applied = 0
        passing: Exception | None = None
        for line in rma.lines:
            for entry in line.inspections:
                if entry.disposition is not Disposition.restocked or entry.movement_id is None:
                    continue
                if only is not None and entry.movement_id not in only:
                    continue
                assert rma.destination.node_id is not None
                try:
                    outcome = self.inventory.restock(
                        line.sku, rma.destination.node_id, entry.quantity, entry.movement_id, self.clock()
                    )
                except OmsError as exc:
                    if exc.status_code >= 500:
                        passing = exc
                        continue
                    _log.error("restock refused: a person must place these units", extra={
                        "rma_id": rma.rma_id, "movement_id": entry.movement_id, "error": exc.code})  # fmt: skip
                    continue
                applied += entry.quantity if outcome == "applied" else 0
        if passing is not None:
            raise passing
        return applied

    def create_exchange(self, order: Order, rma: Rma) -> str | None:
        """The replacement order, through normal capture (and so sourcing); its id is fixed by the RMA."""
        if self.capture is None or not rma.exchange_lines or rma.exchange_order_id is None:
            return None
        if self.orders.get(rma.exchange_order_id) is not None:
            return rma.exchange_order_id  # captured before: a repeat must not make it look like a channel update
        due = rma.refund.settled_at or rma.updated_at  # when the exchange came due: fixed, whoever captures
        lines = [
            OrderLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, unit_price=x.unit_price)
            for x in rma.exchange_lines
        ]
        total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        draft = OrderDraft(
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
        return self.capture(draft)

    def _after_write(self, before: Order, after: Order, rma_ids: list[str]) -> None:
        """Restocks and replacement orders the write recorded, done now (the worker does them again from the
        events if this is cut short)."""
        was = {rma.rma_id: rma for rma in before.returns}
        for rma in after.returns:
            if rma.rma_id not in rma_ids:
                continue
            old = was.get(rma.rma_id)
            new = _movements(rma) - _movements(old)
            if new:
                try:
                    self.restock_inspected(rma, only=new)
                except Exception:  # recorded on the order: the worker finishes it from ReturnUnitsInspected
                    _log.warning("restock left to the returns worker", extra={"rma_id": rma.rma_id}, exc_info=True)
            if rma.exchange_order_id and (old is None or old.exchange_order_id is None):
                try:
                    self.create_exchange(after, rma)
                except Exception:  # recorded on the order: the worker finishes it from ExchangeRequested
                    _log.warning("exchange left to the returns worker", extra={"rma_id": rma.rma_id}, exc_info=True)

    # ------------------------------------------------------------ the write

    def _step(
        self,
        rma_id: str,
        apply: Callable[[Order, Rma, datetime], Rma],
        by: str,
        moment: RefundTiming | None,
        extra: Callable[[], list[Rma]] | None = None,
    ) -> Rma:
        unchanged: list[Rma] = []

        def stepped(order: Order) -> Order:
            rma = next(r for r in order.returns if r.rma_id == rma_id)
            now = self.clock()
            changed = apply(order, rma, now)
            if changed == rma:
                unchanged.append(rma)
                return order
            returns = [changed if r.rma_id == rma_id else r for r in order.returns] + (extra() if extra else [])
            updated = order.model_copy(
                update={"returns": returns, "updated_at": now, "version": order.version + 1, "changed_by": by}
            )
            if moment is not None:
                updated = self._settle_due(updated, [rma_id], moment, now)
            return _close_finished(updated)

        done = update_order(
            self.orders, rma_id, stepped, read=lambda _: self.get(rma_id, consistent=True)[0],
            exhausted=lambda _: Conflict(f"RMA {rma_id} kept changing; try again", details={"retryable": True}),
        )  # fmt: skip
        if not done.written:
            return unchanged[-1]
        self._after_write(done.before, done.after, [rma_id])
        return next(r for r in done.after.returns if r.rma_id == rma_id)

    def _settle_due(self, order: Order, rma_ids: list[str], moment: RefundTiming, now: datetime) -> Order:
        """Refunds (or exchanges) whose moment has come: requested with their amount."""
        returns = list(order.returns)
        for index, rma in enumerate(returns):
            if rma.rma_id not in rma_ids or rma.refund.status is not RefundStatus.pending or not _due(rma, moment):
                continue
            units = _refundable_units(rma, moment)
            if rma.resolution is Resolution.exchange:
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
                returns[index] = rma.model_copy(
                    update={"refund": refund, "exchange_order_id": order_id, "exchange_lines": exchange}
                )
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

    @staticmethod
    def _at_node(rma: Rma, nodes_acted_for: set[str] | None) -> None:
        if nodes_acted_for is None:
            return
        if rma.destination.node_id not in nodes_acted_for:
            raise Forbidden(f"{rma.rma_id} goes to {rma.destination.key}: this key reports for other nodes")


# Refunds that take from what is left of the order: a failed one too (it is retried or settled by hand).
_COUNTED = frozenset({RefundStatus.requested, RefundStatus.completed, RefundStatus.failed})


def _exchange_refusal(line_id: str, sku: str, exchange_sku: str, facts: dict[str, SkuFacts]) -> Refusal | None:
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


def _inspected(
    line: RmaLine,
    condition: Condition,
    quantity: int,
    disposition: Disposition,
    now: datetime,
    by: str,
    note: str | None = None,
    movement_id: str | None = None,
    supplier: str | None = None,
    inspection_id: str | None = None,
) -> RmaLine:
    if quantity <= 0:
        return line
    entry = Inspection(
        inspection_id=inspection_id,
        condition=condition,
        quantity=quantity,
        disposition=disposition,
        at=now,
        by=by,
        note=note,
        movement_id=movement_id,
        supplier=supplier,
    )
    return line.model_copy(update={"inspections": [*line.inspections, entry]})


def _forwarded_to(line: RmaLine, rma_id: str) -> RmaLine:
    entries = [
        entry.model_copy(update={"forwarded_to": rma_id})
        if entry.disposition is Disposition.forwarded and entry.forwarded_to is None
        else entry
        for entry in line.inspections
    ]
    return line.model_copy(update={"inspections": entries})


def _movements(rma: Rma | None) -> set[str]:
    if rma is None:
        return set()
    return {e.movement_id for line in rma.lines for e in line.inspections if e.movement_id}


def _close_finished(order: Order) -> Order:
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
