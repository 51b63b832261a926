"""The backorder sweep: backordered (and partly allocated) orders whose waiting SKUs have stock
somewhere again get another sourcing round, oldest first. Each run looks at one page per status
and goes on from where the last run stopped, so old backorders that never get stock cannot starve
newer ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from oms.models.order import Order, OrderStatus
from oms.ports import OrderQuery, OrderRepository
from oms.ports.cursors import Cursors

SWEEP_SINCE = datetime(2020, 1, 1, tzinfo=UTC)  # every backorder, however old
SWEPT = (OrderStatus.backordered, OrderStatus.partially_allocated)


class Sourcing(Protocol):
    def backordered_with_stock(self, order: Order) -> bool: ...

    def source(self, order_id: str) -> object:
        """A sourcing round; its answer has an `outcome` ("unchanged" when nothing moved)."""


@dataclass
class SweepResult:
    looked_at: int = 0
    sourced: list[tuple[str, str]] = field(default_factory=list)  # (order id, outcome) of the orders that moved


class BackorderSweep:
    def __init__(self, orders: OrderRepository, sourcing: Sourcing, cursors: Cursors, page: int = 100) -> None:
        self.orders = orders
        self.sourcing = sourcing
        self.cursors = cursors
        self.page = page

    def run(self, time_is_short: Callable[[], bool]) -> SweepResult:
        """Up to `page` orders per status; stops early (keeping its place) when time is short."""
        result = SweepResult()
        for status in SWEPT:
            cursor = self.cursors.get(status.value)
            query = OrderQuery(
                status=status, created_from=SWEEP_SINCE, limit=self.page, oldest_first=True, cursor=cursor
            )
            page = self.orders.list(query)
            for summary in page.items:
                if time_is_short():
                    break
                order = self.orders.get(summary["order_id"])
                result.looked_at += 1
                if order is None or not self.sourcing.backordered_with_stock(order):
                    continue
                outcome = self.sourcing.source(order.order_id).outcome  # type: ignore[attr-defined]
                if outcome != "unchanged":
                    result.sourced.append((order.order_id, outcome))
            else:
                self.cursors.put(status.value, page.next_cursor)  # the whole page was looked at: next run goes on
        return result
