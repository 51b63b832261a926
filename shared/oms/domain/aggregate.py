"""The order is the unit of consistency: every change is read, decided and written against the
version that was read (optimistic concurrency). `update_order` is the one loop that does it, so
no service repeats it: a write that lost to a newer version is decided again from a fresh read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oms.errors import Conflict, NotFound, OmsError, StaleWrite
from oms.models.order import Order
from oms.ports import OrderRepository

ATTEMPTS = 5


@dataclass(frozen=True)
class Updated:
    before: Order  # as read for the attempt that won
    after: Order  # as written (the same object as `before` when nothing changed)

    @property
    def written(self) -> bool:
        return self.after is not self.before


def kept_changing(order_id: str) -> OmsError:
    return Conflict(f"order {order_id} kept changing; try again", details={"retryable": True})


def update_order(
    orders: OrderRepository,
    order_id: str,
    change: Callable[[Order], Order],
    *,
    read: Callable[[str], Order] | None = None,
    current: Order | None = None,
    attempts: int = ATTEMPTS,
    exhausted: Callable[[str], OmsError] = kept_changing,
) -> Updated:
    """Apply `change` to the order and write it if it returned a new object. `change` may raise to
    refuse (its error propagates) and must be safe to run again: it runs once per attempt. `read`
    replaces the plain consistent read (one that also checks who may change the order, say).
    `current` is the order as the caller has just read it: the first attempt decides from it
    instead of reading again (a stale one costs an attempt, as any lost race does)."""
    fetch = read or (lambda order_id: orders.get(order_id, consistent=True))
    for _ in range(attempts):
        before = current if current is not None else fetch(order_id)
        current = None
        if before is None:
            raise NotFound(f"no order {order_id}")
        after = change(before)
        if after is before:
            return Updated(before, before)
        try:
            orders.replace(after, expected_version=before.version)
        except StaleWrite:
            continue
        return Updated(before, after)
    raise exhausted(order_id)
