"""One step of an RMA's life, written: the RMA read from its order, the step applied, what it made due
settled, finished RMAs closed, and the order written back conditional on its version (`update_order`:
a concurrent change makes it read and decide again), then what the step set off outside the order.

Receiving, inspecting, cancelling and the refund's outcome are each one `step`; the parts that decide
them (`returns_receiving`, `returns_cancellation`, `returns_refunds`) know nothing of the write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from oms.domain.aggregate import update_order
from oms.domain.returns_effects import ReturnEffects
from oms.domain.returns_settlement import close_finished, settle_due
from oms.errors import Conflict, NotFound
from oms.models.order import Order
from oms.models.returns import RefundTiming, Rma
from oms.ports import OrderRepository

# A step's decision: the RMA as it becomes (the same RMA when there is nothing to change), from the order
# and the RMA as read, at the step's moment. It may raise to refuse, and must be safe to run again.
Apply = Callable[[Order, Rma, datetime], Rma]


def rma_order_number(rma_id: str) -> str | None:
    """RMA-<order number>-<n> -> the order number."""
    if not rma_id.startswith("RMA-") or "-" not in rma_id[4:]:
        return None
    number, _, n = rma_id[4:].rpartition("-")
    return number if n.isdigit() and number else None


class RmaSteps:
    def __init__(self, orders: OrderRepository, effects: ReturnEffects, clock: Callable[[], datetime]) -> None:
        self.orders = orders
        self.effects = effects
        self.clock = clock

    def get(self, rma_id: str, consistent: bool = False) -> tuple[Order, Rma]:
        number = rma_order_number(rma_id)
        order_id = self.orders.order_id_for_number(number) if number else None
        order = self.orders.get(order_id, consistent=consistent) if order_id else None
        rma = next((r for r in order.returns if r.rma_id == rma_id), None) if order else None
        if order is None or rma is None:
            raise NotFound(f"no RMA {rma_id}")
        return order, rma

    def step(
        self,
        rma_id: str,
        apply: Apply,
        by: str,
        moment: RefundTiming | None,
        extra: Callable[[], list[Rma]] | None = None,
    ) -> Rma:
        """Apply one step to the RMA and write it; `moment` is when the step may make its refund due, `extra`
        the RMAs the step added (a transfer leg)."""
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
                updated = settle_due(updated, [rma_id], moment, now)
            return close_finished(updated)

        done = update_order(
            self.orders, rma_id, stepped, read=lambda _: self.get(rma_id, consistent=True)[0],
            exhausted=lambda _: Conflict(f"RMA {rma_id} kept changing; try again", details={"retryable": True}),
        )  # fmt: skip
        if not done.written:
            return unchanged[-1]
        self.effects.after_write(done.before, done.after, [rma_id])
        return next(r for r in done.after.returns if r.rma_id == rma_id)
