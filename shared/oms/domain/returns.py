"""Returns: authorize (policy), route, receive, inspect and dispose, and settle the refund.

The RMAs live on their order (`Order.returns`). Every step reads the order consistently, decides, and
writes it back conditional on its version (a concurrent change makes it read and decide again), so a
return can never take more than was delivered, and the orders stream turns each step into timeline
entries and events (ReturnAuthorized ... RefundRequested ... ReturnClosed) without a second write to
lose. Stock moves before the order is written, keyed by the RMA, line and inspection, so a retry
after a crash restocks nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from oms.domain.channel_sync import MARKETPLACES
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
from oms.errors import Conflict, Forbidden, NotFound, OmsError, StaleWrite
from oms.models.inventory import Node
from oms.models.order import (
    OWN_CHANNELS,
    Channel,
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

ATTEMPTS = 5
# Channels whose buyers pay online through the retailer's payment provider.
GATEWAY_CHANNELS = frozenset({Channel.web, Channel.social, Channel.callcenter})


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


class Orders(Protocol):
    def get(self, order_id: str, consistent: bool = False) -> Order | None: ...

    def replace(self, order: Order, expected_version: int) -> None: ...

    def order_id_for_number(self, order_number: str) -> str | None: ...


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
    if order.payment.cod or order.channel not in GATEWAY_CHANNELS:
        return RefundMethod.manual  # cash, the POS, the web store's own admin
    return RefundMethod.gateway


class ReturnsService:
    def __init__(
        self,
        orders: Orders,
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
        """Check every line against the policy, route each, and record one RMA per destination."""
        for _ in range(ATTEMPTS):
            order = self.orders.get(request.order_id, consistent=True)
            if order is None:
                raise NotFound(f"no order {request.order_id}")
            if acting_for is not None and order.channel not in acting_for:
                raise Forbidden(f"this key may not return {order.channel.value} orders")
            if request.request_id is not None:
                earlier = [rma for rma in order.returns if rma.request_id == request.request_id]
                if earlier:
                    return ReturnAccepted(outcome="duplicate", order_id=order.order_id, rmas=earlier)
            now = self.clock()
            rmas = self._authorize(order, request, by, now)
            updated = order.model_copy(
                update={
                    "returns": [*order.returns, *rmas],
                    "updated_at": now,
                    "version": order.version + 1,
                    "changed_by": by,
                }
            )
            updated = self._settle_due(updated, [rma.rma_id for rma in rmas], RefundTiming.on_request, now)
            try:
                self.orders.replace(updated, expected_version=order.version)
            except StaleWrite:
                continue
            created = {rma.rma_id for rma in rmas}
            return ReturnAccepted(
                outcome="created", order_id=order.order_id, rmas=[r for r in updated.returns if r.rma_id in created]
            )
        raise Conflict(f"order {request.order_id} kept changing; try again", details={"retryable": True})

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
        if request.resolution is Resolution.exchange:
            unknown = sorted(
                sku for sku in {line.exchange_sku for line in request.lines if line.exchange_sku} if sku not in facts
            )
            refusals += [Refusal(None, "unknown_sku", f"exchange SKU {sku} is not in the catalog") for sku in unknown]
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
        by_place: dict[str, list[tuple[RmaLine, Destination, ReturnRule]]] = {}
        for entry in routed:
            by_place.setdefault(entry[1].key, []).append(entry)
        method = refund_method(order)
        rmas = []
        for n, group in enumerate(by_place.values(), start=len(order.returns) + 1):
            first_rule = group[0][2]
            rmas.append(
                Rma(
                    rma_id=f"RMA-{order.order_number}-{n}",
                    method=request.method,
                    resolution=request.resolution,
                    destination=group[0][1],
                    lines=[entry[0] for entry in group],
                    return_shipping_paid_by=return_shipping_payer(first_rule, (e[0].reason for e in group)),
                    refund=Refund(method=method, currency=order.currency, timing=first_rule.refund_timing),
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
        lines = [
            ReturnLineRequest(line_id=line_id, quantity=got.quantity - already.get(line_id, 0),
                              reason=ReturnReason.other, note=f"asked in {order.channel.value} "
                              f"(status {order.channel_status or 'not given'})")
            for line_id, got in sorted(delivered_lines(order).items())
            if got.quantity > already.get(line_id, 0)
        ]  # fmt: skip
        if not lines:
            return None
        request = ReturnCreate(
            order_id=order_id,
            lines=lines,
            method=ReturnMethod.ship_back,
            request_id=f"{order.channel.value}-return-{flag.since.isoformat()}",
        )
        return self.create(request, f"channel:{order.channel.value}")

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
            if rma.status is RmaStatus.authorized:
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
                line = by_line.get(units.line_id)
                if line is None:
                    raise ReturnStepRefused("not_on_rma", f"line {units.line_id} is not on {rma_id}")
                asked[units.line_id] = asked.get(units.line_id, 0) + units.quantity
            for line_id, count in asked.items():
                line = by_line[line_id]
                left = (line.received or 0) - line.inspected
                if count > left:
                    raise ReturnStepRefused(
                        "not_received",
                        f"line {line_id}: {line.received or 0} received, {line.inspected} inspected before, "
                        f"{count} inspected now",
                    )
            node = self.nodes().get(rma.destination.node_id or "")
            facts = self.sku_facts({line.sku for line in rma.lines})
            lines = dict(by_line)
            resellable_elsewhere: list[tuple[RmaLine, int]] = []
            for units in inspection.units:
                line = lines[units.line_id]
                disposition, movement, supplier = self._dispose(
                    rma, line, units.condition, units.quantity, node, facts, now
                )
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
                )
            if resellable_elsewhere:
                forward = self._forward(order, rma, resellable_elsewhere, by, now)
                forwards.append(forward)
                lines = {
                    line_id: line.model_copy(
                        update={
                            "inspections": [
                                i.model_copy(update={"forwarded_to": forward.rma_id})
                                if i.disposition is Disposition.forwarded and i.forwarded_to is None
                                else i
                                for i in line.inspections
                            ]
                        }
                    )
                    for line_id, line in lines.items()
                }
            return rma.model_copy(update={"lines": [lines[line.line_id] for line in rma.lines], "updated_at": now})

        return self._step(rma_id, apply, by, RefundTiming.on_inspection, extra=lambda: forwards)

    def _dispose(
        self,
        rma: Rma,
        line: RmaLine,
        condition: Condition,
        quantity: int,
        node: Node | None,
        facts: dict[str, SkuFacts],
        now: datetime,
    ) -> tuple[Disposition, str | None, str | None]:
        if rma.destination.supplier:
            return Disposition.vendor_claim, None, rma.destination.supplier
        if condition is Condition.resellable:
            if node is not None and node.restocks_returns:
                movement = f"{rma.rma_id}-{line.line_id}-{len(line.inspections)}"
                self.inventory.restock(line.sku, node.node_id, quantity, movement, now)
                return Disposition.restocked, movement, None
            return Disposition.forwarded, None, None
        if condition is Condition.refurbish:
            return Disposition.refurbish, None, None
        if condition is Condition.defective:
            supplier = facts.get(line.sku, SkuFacts()).supplier
            return (Disposition.vendor_claim, None, supplier) if supplier else (Disposition.quarantined, None, None)
        return Disposition.quarantined, None, None

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

    # ------------------------------------------------------------ refunds

    def report_refund(self, rma_id: str, report: RefundReport, by: str, attempt: int | None = None) -> Rma:
        """The refund's outcome: from the payment provider (through the worker), the marketplace, or a person."""

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            refund = rma.refund
            if attempt is not None and attempt != refund.attempt:
                return rma  # an answer to an older request
            wanted = RefundStatus.completed if report.outcome is RefundOutcomeKind.completed else RefundStatus.failed
            if refund.status is wanted:
                return rma  # a repeat
            if refund.status is not RefundStatus.requested and not (
                refund.status is RefundStatus.failed and wanted is RefundStatus.completed
            ):
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

    # ------------------------------------------------------------ the write

    def _step(
        self,
        rma_id: str,
        apply: Callable[[Order, Rma, datetime], Rma],
        by: str,
        moment: RefundTiming | None,
        extra: Callable[[], list[Rma]] | None = None,
    ) -> Rma:
        for _ in range(ATTEMPTS):
            order, rma = self.get(rma_id, consistent=True)
            now = self.clock()
            changed = apply(order, rma, now)
            if changed == rma:
                return rma
            returns = [changed if r.rma_id == rma_id else r for r in order.returns] + (extra() if extra else [])
            updated = order.model_copy(
                update={"returns": returns, "updated_at": now, "version": order.version + 1, "changed_by": by}
            )
            if moment is not None:
                updated = self._settle_due(updated, [rma_id], moment, now)
            updated = _close_finished(updated)
            try:
                self.orders.replace(updated, expected_version=order.version)
            except StaleWrite:
                continue
            return next(r for r in updated.returns if r.rma_id == rma_id)
        raise Conflict(f"RMA {rma_id} kept changing; try again", details={"retryable": True})

    def _settle_due(self, order: Order, rma_ids: list[str], moment: RefundTiming, now: datetime) -> Order:
        """Refunds (or exchanges) whose moment has come: requested with their amount."""
        returns = list(order.returns)
        for index, rma in enumerate(returns):
            if rma.rma_id not in rma_ids or rma.refund.status is not RefundStatus.pending:
                continue
            if not _due(rma, moment):
                continue
            units = _refundable_units(rma, moment, self._rules())
            if rma.resolution is Resolution.exchange:
                exchange_id = self._exchange(order, rma, units, now) if any(units.values()) else None
                refund = rma.refund.model_copy(update={"status": RefundStatus.not_due, "settled_at": now})
                returns[index] = rma.model_copy(update={"refund": refund, "exchange_order_id": exchange_id})
                continue
            others = [r for r in returns if r.rma_id != rma.rma_id]
            refunded = sum((r.refund.amount for r in others if r.refund.status in _COUNTED), Decimal(0))
            shipping = any(
                p.label == "original shipping" for r in others if r.refund.status in _COUNTED for p in r.refund.parts
            )
            snapshot = order.model_copy(update={"returns": returns})
            amount, parts = refund_amount(snapshot, rma, self._rules(), units, refunded, shipping)
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

    def _rules(self) -> dict[str, ReturnRule]:
        return {rule.name: rule for rule in self.policy().rules}

    def _exchange(self, order: Order, rma: Rma, units: dict[str, int], now: datetime) -> str | None:
        """The replacement order, through normal capture (and so sourcing); its id is fixed by the RMA."""
        if self.capture is None:
            return None
        lines = [
            OrderLine(
                line_id=line.line_id,
                sku=line.exchange_sku or line.sku,
                quantity=units[line.line_id],
                unit_price=line.unit_refund,
            )
            for line in rma.lines
            if units.get(line.line_id, 0) > 0
        ]
        total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        channel = order.channel if order.channel in OWN_CHANNELS else Channel.callcenter
        draft = OrderDraft(
            channel=channel,
            channel_order_id=rma.rma_id,
            channel_updated_at=now,
            placed_at=now,
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

    @staticmethod
    def _at_node(rma: Rma, nodes_acted_for: set[str] | None) -> None:
        if nodes_acted_for is None:
            return
        if rma.destination.node_id not in nodes_acted_for:
            raise Forbidden(f"{rma.rma_id} goes to {rma.destination.key}: this key reports for other nodes")


_COUNTED = frozenset({RefundStatus.requested, RefundStatus.completed})


def _due(rma: Rma, moment: RefundTiming) -> bool:
    timing = rma.refund.timing
    if moment is RefundTiming.on_request:
        return timing is RefundTiming.on_request
    if moment is RefundTiming.on_receipt:
        # Inspection-timed refunds of a receipt with nothing in it (or a supplier's, inspected on arrival).
        return timing is RefundTiming.on_receipt or (timing is RefundTiming.on_inspection and _all_inspected(rma))
    return timing is RefundTiming.on_inspection and _all_inspected(rma)


def _all_inspected(rma: Rma) -> bool:
    return rma.status is not RmaStatus.authorized and all(line.inspected >= (line.received or 0) for line in rma.lines)


def _refundable_units(rma: Rma, moment: RefundTiming, rules: dict[str, ReturnRule]) -> dict[str, int]:
    if moment is RefundTiming.on_request:
        return {line.line_id: line.quantity for line in rma.lines}
    if moment is RefundTiming.on_receipt and rma.refund.timing is RefundTiming.on_receipt:
        return {line.line_id: line.received or 0 for line in rma.lines}
    out = {}
    for line in rma.lines:
        rule = rules.get(line.rule)
        count = line.received or 0
        if line.reason not in SELLER_FAULT and not (rule and rule.refund_damaged_by_buyer):
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
) -> RmaLine:
    if quantity <= 0:
        return line
    entry = Inspection(
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
