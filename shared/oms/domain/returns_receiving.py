"""Receiving and inspecting what came back: the receipt (what arrived, once per RMA), then a condition per
unit and what becomes of it. Resellable units go back to the receiving node's stock (a restock recorded
with its movement id, applied by `ReturnEffects`) or, from a node that does not sell returns, on to a
return center on a transfer leg (a new RMA); the rest are kept out of stock (refurbish, quarantine, the
supplier's claim).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from oms.domain.return_policy import SkuFacts, nearest, return_centers
from oms.domain.returns_steps import RmaSteps
from oms.errors import Conflict, Forbidden, OmsError
from oms.models.inventory import Node
from oms.models.order import Order
from oms.models.returns import (
    Condition,
    Destination,
    Disposition,
    Inspection,
    Payer,
    Refund,
    RefundStatus,
    RefundTiming,
    Resolution,
    ReturnInspection,
    ReturnMethod,
    ReturnReceipt,
    Rma,
    RmaLine,
    RmaStatus,
)


class ReturnStepRefused(OmsError):
    """422 for a receipt or an inspection that does not fit the RMA (the rule named)."""

    status_code = 422
    code = "return_step_refused"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}", details={"rule": rule})


class ReturnReceiving:
    def __init__(
        self,
        steps: RmaSteps,
        nodes: Callable[[], dict[str, Node]],
        sku_facts: Callable[[set[str]], dict[str, SkuFacts]],
    ) -> None:
        self.steps = steps
        self.nodes = nodes
        self.sku_facts = sku_facts

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

        return self.steps.step(rma_id, apply, by, RefundTiming.on_receipt)

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

        return self.steps.step(rma_id, apply, by, RefundTiming.on_inspection, extra=lambda: forwards)

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

    @staticmethod
    def _at_node(rma: Rma, nodes_acted_for: set[str] | None) -> None:
        if nodes_acted_for is None:
            return
        if rma.destination.node_id not in nodes_acted_for:
            raise Forbidden(f"{rma.rma_id} goes to {rma.destination.key}: this key reports for other nodes")


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
