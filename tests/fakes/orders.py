"""The orders port in memory: a dict of orders, a version check on replace, the lookups the
orders stream keeps (order numbers, tracking numbers, timelines) and sourcing's traces."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from oms.errors import DependencyError, StaleWrite
from oms.models.order import Order
from oms.models.timeline import TimelineEntry
from oms.ports import OrderPage, OrderQuery, OrderRepository


class FakeOrders(OrderRepository):
    """Other writers can get in first: `conflicts` bumps the stored version before a replace (a change
    by someone else, so the replace is stale), `meanwhile` runs a whole write of someone else's first."""

    def __init__(self, *orders: Order) -> None:
        self.orders: dict[str, Order] = {order.order_id: order for order in orders}
        self.writes = 0
        self.timelines: dict[str, dict] = {}
        self.lookups: dict[tuple, dict] = {}
        self.timeline_fails = False
        self.conflicts = 0
        self.meanwhile: list[Callable[[], object]] = []
        self.tracking: dict[str, tuple[str, str]] = {}
        self.sourcing_traces: dict[str, dict[int, dict[str, Any]]] = {}

    def get(self, order_id: str, consistent: bool = False) -> Order | None:
        return self.orders.get(order_id)

    def insert(self, order: Order) -> Order | None:
        if order.order_id in self.orders:
            return self.orders[order.order_id]
        self.orders[order.order_id] = order
        self.writes += 1
        return None

    def replace(self, order: Order, expected_version: int) -> None:
        if self.meanwhile:
            self.meanwhile.pop(0)()
        current = self.orders[order.order_id]
        if self.conflicts:
            self.conflicts -= 1
            self.orders[order.order_id] = current.model_copy(
                update={"version": current.version + 1, "changed_by": "carrier:jne"}
            )
            raise StaleWrite("changed")
        if current.version != expected_version:
            raise StaleWrite("changed")
        self.orders[order.order_id] = order
        self.writes += 1

    def ids_of_channel(self, channel: str) -> Iterator[str]:
        return iter([o.order_id for o in self.orders.values() if o.channel == channel])

    def list(self, query: OrderQuery) -> OrderPage:
        """The adapter's filters that scheduled walks use (status, channel, creation range), newest first
        unless oldest_first, a page of query.limit; the cursor is the next position."""
        found = [
            o
            for o in self.orders.values()
            if (query.status is None or o.status is query.status)
            and (query.channel is None or o.channel == query.channel)
            and (query.created_from is None or o.created_at >= query.created_from)
            and (query.created_to is None or o.created_at <= query.created_to)
        ]
        found.sort(key=lambda o: (o.created_at, o.order_id), reverse=not query.oldest_first)
        start = int(query.cursor or 0)
        end = start + query.limit
        return OrderPage(
            items=[o.model_dump(mode="json") for o in found[start:end]],
            next_cursor=str(end) if end < len(found) else None,
        )

    def order_id_for_number(self, order_number: str) -> str | None:
        return next((o.order_id for o in self.orders.values() if o.order_number == order_number), None)

    def by_number(self, order_number: str) -> Order | None:
        return next((o for o in self.orders.values() if o.order_number == order_number), None)

    def timeline(self, order_id: str) -> list[TimelineEntry]:
        return [entry for _, entry in sorted(self.timelines.get(order_id, {}).items())]

    def claim_tracking(self, tracking_number: str, carrier: str, fulfillment_id: str) -> str:
        return self.tracking.setdefault(tracking_number, (fulfillment_id, carrier))[0]

    def tracking_owner(self, tracking_number: str) -> tuple[str, str] | None:
        return self.tracking.get(tracking_number)

    def put_trace(self, order_id: str, round_: int, at: datetime, outcome: str, trace: dict[str, Any]) -> None:
        rounds = self.sourcing_traces.setdefault(order_id, {})
        rounds.setdefault(round_, {"round": round_, "at": at.isoformat(), "outcome": outcome, "plan": trace})

    def traces(self, order_id: str) -> list[dict[str, Any]]:
        return [record for _, record in sorted(self.sourcing_traces.get(order_id, {}).items())]

    def put_timeline(self, entries: list) -> None:
        if self.timeline_fails:
            raise DependencyError("throttled")
        for entry in entries:
            self.timelines.setdefault(entry.order_id, {})[entry.key] = entry

    def put_lookups(self, changes: list) -> None:
        for kind, item in changes:
            key = (item["pk"]["S"], item["sk"]["S"])
            if kind == "put":
                self.lookups[key] = item
            else:
                self.lookups.pop(key, None)
