"""update_order: the one read-decide-write loop on an order's version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oms.domain.aggregate import ATTEMPTS, update_order
from oms.domain.capture import CaptureService
from oms.errors import Conflict, NotFound, StaleWrite
from oms.models.order import Order
from tests.builders import a_draft
from tests.fakes import FakeCatalog, FakeNumbers, FakeOrders

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@pytest.fixture
def stored() -> tuple[FakeOrders, Order]:
    orders = FakeOrders()
    order = (
        CaptureService(orders, FakeCatalog({"TSHIRT-BLK-M", "CAP-NAVY"}), FakeNumbers())
        .capture(a_draft(), NOW, likely_new=True)
        .order
    )
    return orders, order


def _renamed(name: str):
    def change(order: Order) -> Order:
        customer = order.customer.model_copy(update={"name": name})
        return order.model_copy(update={"customer": customer, "version": order.version + 1})

    return change


def test_a_change_is_written_against_the_version_read(stored) -> None:
    # Given a stored order
    orders, order = stored
    # When it is changed
    done = update_order(orders, order.order_id, _renamed("Sari"))
    # Then the new version is stored and the answer says so
    assert done.written and done.before.version == order.version
    assert orders.orders[order.order_id].customer.name == "Sari"
    assert orders.orders[order.order_id].version == order.version + 1


def test_a_lost_race_is_decided_again_from_a_fresh_read(stored) -> None:
    # Given another writer that gets in first twice
    orders, order = stored
    orders.conflicts = 2
    seen: list[int] = []

    def change(current: Order) -> Order:
        seen.append(current.version)
        return _renamed("Sari")(current)

    # When the order is changed
    done = update_order(orders, order.order_id, change)
    # Then the change ran on each newer version, and the last one was written
    assert seen == [order.version, order.version + 1, order.version + 2]
    assert done.after.version == order.version + 3 and orders.orders[order.order_id].customer.name == "Sari"


def test_nothing_to_change_writes_nothing(stored) -> None:
    orders, order = stored
    writes = orders.writes
    done = update_order(orders, order.order_id, lambda current: current)
    assert not done.written and orders.writes == writes


def test_a_refusal_propagates_and_writes_nothing(stored) -> None:
    orders, order = stored

    def refuse(current: Order) -> Order:
        raise Conflict("too late")

    with pytest.raises(Conflict, match="too late"):
        update_order(orders, order.order_id, refuse)
    assert orders.orders[order.order_id] == order


def test_an_order_that_keeps_changing_is_a_retryable_conflict(stored) -> None:
    orders, order = stored
    orders.conflicts = ATTEMPTS
    with pytest.raises(Conflict) as raised:
        update_order(orders, order.order_id, _renamed("Sari"))
    assert raised.value.details == {"retryable": True}


def test_the_caller_may_say_what_running_out_of_attempts_means(stored) -> None:
    orders, order = stored
    orders.conflicts = 2
    with pytest.raises(StaleWrite):
        update_order(orders, order.order_id, _renamed("Sari"), attempts=2, exhausted=StaleWrite)


def test_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFound, match="no order o-1"):
        update_order(FakeOrders(), "o-1", lambda current: current)


def test_the_order_the_caller_read_decides_the_first_attempt_only(stored) -> None:
    # Given the order as the caller read it, and a newer version stored since by another writer
    orders, order = stored
    orders.orders[order.order_id] = order.model_copy(update={"version": order.version + 1})
    reads: list[str] = []
    seen: list[int] = []

    def read(order_id: str) -> Order:
        reads.append(order_id)
        return orders.orders[order_id]

    def change(current: Order) -> Order:
        seen.append(current.version)
        return _renamed("Sari")(current)

    # When the order is changed from what the caller read
    done = update_order(orders, order.order_id, change, read=read, current=order)
    # Then the first attempt decided from it without a read, lost, and the second read afresh and won
    assert seen == [order.version, order.version + 1] and reads == [order.order_id]
    assert done.written and done.after.version == order.version + 2
