"""The backorder sweep: which orders get another round, and where the next run goes on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from oms.domain.backorders import BackorderSweep
from oms.domain.capture import CaptureService
from oms.models.order import Order, OrderStatus
from tests.builders import a_draft
from tests.fakes import FakeCatalog, FakeCursors, FakeNumbers, FakeOrders

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@dataclass
class Round:
    outcome: str


class StockedSourcing:
    """Sourcing that finds stock for the SKUs in `stocked`; a round allocates the order."""

    def __init__(self, orders: FakeOrders, stocked: set[str]) -> None:
        self.orders, self.stocked, self.rounds = orders, stocked, []

    def backordered_with_stock(self, order: Order) -> bool:
        return any(line.sku in self.stocked for line in order.lines)

    def source(self, order_id: str) -> Round:
        self.rounds.append(order_id)
        order = self.orders.orders[order_id]
        self.orders.orders[order_id] = order.model_copy(update={"status": OrderStatus.allocated})
        return Round("allocated")


def _backorders(orders: FakeOrders, skus: list[str]) -> list[str]:
    capture = CaptureService(orders, FakeCatalog(set(skus)), FakeNumbers())
    ids = []
    for n, sku in enumerate(skus):
        line = {"line_id": "1", "sku": sku, "quantity": 1, "unit_price": "100"}
        totals = {"subtotal": "100", "discount": "0", "shipping": "0", "grand_total": "100"}
        draft = a_draft(channel_order_id=f"BO-{n}", lines=[line], totals=totals)
        order = capture.capture(draft, NOW + timedelta(minutes=n), likely_new=True).order
        orders.orders[order.order_id] = order.model_copy(update={"status": OrderStatus.backordered})
        ids.append(order.order_id)
    return ids


def test_only_backorders_whose_skus_have_stock_again_are_sourced() -> None:
    # Given three backorders, one of them for a SKU that has stock again
    orders = FakeOrders()
    ids = _backorders(orders, ["TSHIRT-BLK-M", "CAP-NAVY", "TSHIRT-BLK-M"])
    sourcing = StockedSourcing(orders, {"CAP-NAVY"})
    # When the sweep runs
    result = BackorderSweep(orders, sourcing, FakeCursors()).run(lambda: False)
    # Then all three were looked at and only the stocked one got a round
    assert result.looked_at == 3
    assert result.sourced == [(ids[1], "allocated")] and sourcing.rounds == [ids[1]]


def test_a_run_goes_on_from_where_the_last_one_stopped() -> None:
    # Given five backorders and a sweep of two per page
    orders = FakeOrders()
    ids = _backorders(orders, ["CAP-NAVY"] * 5)
    cursors = FakeCursors()
    sweep = BackorderSweep(orders, StockedSourcing(orders, set()), cursors, page=2)
    # When it runs three times
    looked = [sweep.run(lambda: False).looked_at for _ in range(3)]
    # Then each run looked at the next page, oldest first, and the last starts over
    assert looked == [2, 2, 1]
    assert cursors.get(OrderStatus.backordered.value) is None
    assert ids  # five were stored


def test_short_of_time_it_stops_and_keeps_its_place() -> None:
    # Given backorders and a run that is out of time at once
    orders = FakeOrders()
    _backorders(orders, ["CAP-NAVY"] * 3)
    cursors = FakeCursors()
    cursors.put(OrderStatus.backordered.value, "1")
    # When it runs
    result = BackorderSweep(orders, StockedSourcing(orders, {"CAP-NAVY"}), cursors).run(lambda: True)
    # Then nothing was looked at and the cursor is where it was
    assert result.looked_at == 0 and cursors.get(OrderStatus.backordered.value) == "1"
