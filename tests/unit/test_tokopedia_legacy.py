"""Tokopedia orders captured through the closed Tokopedia Open API, migrated to TikTok Shop's statuses."""

from __future__ import annotations

from datetime import timedelta

from oms.domain.capture import order_id_for
from oms.domain.tokopedia_legacy import LEGACY_TAG, is_legacy, migrate
from oms.errors import StaleWrite
from oms.models.order import Channel, ChannelState, Order, OrderDraft
from tests.builders import T0, draft_values
from tests.fakes import FakeCatalog, FakeNumbers, FakeOrders

NOW = T0 + timedelta(days=400)


def stored(orders: FakeOrders, order_id: str, status: str, state: ChannelState, channel: str = "tokopedia") -> Order:
    from oms.domain.capture import CaptureService

    draft = draft_values(channel=channel, channel_order_id=order_id, channel_status=status, channel_state=state.value)
    capture = CaptureService(orders, FakeCatalog({"TSHIRT-BLK-M", "CAP-NAVY"}), FakeNumbers())
    capture.capture(OrderDraft.model_validate(draft), T0)
    return orders.get(order_id_for(Channel(channel), order_id))


def test_old_numeric_statuses_take_tiktok_shops_names_and_the_code_is_kept() -> None:
    orders = FakeOrders()
    done = stored(orders, "9001", "700", ChannelState.completed)
    waiting = stored(orders, "9002", "400", ChannelState.ready)
    new = stored(orders, "579102384756102938", "AWAITING_SHIPMENT", ChannelState.ready)
    tiktok = stored(orders, "9003", "700", ChannelState.completed, channel="tiktok")
    assert is_legacy(done) and is_legacy(waiting) and not is_legacy(new) and not is_legacy(tiktok)

    report = migrate(orders, lambda: NOW)

    assert (report.scanned, report.migrated, report.conflicts) == (3, 2, [])
    after = orders.get(done.order_id)
    assert (after.channel_status, after.channel_state) == ("COMPLETED", ChannelState.completed)
    assert {LEGACY_TAG, "tokopedia-status-700"} <= set(after.tags)
    assert (after.version, after.updated_at) == (done.version + 1, NOW)
    # The one still open when the API closed is listed for ops; the rest are untouched
    assert report.still_open == [waiting.order_number]
    assert orders.get(waiting.order_id).channel_status == "AWAITING_SHIPMENT"
    assert orders.get(new.order_id) == new and orders.get(tiktok.order_id) == tiktok
    # A second run changes nothing
    again = migrate(orders, lambda: NOW + timedelta(hours=1))
    assert (again.migrated, again.still_open) == (0, [])
    assert orders.get(done.order_id).version == done.version + 1


def test_a_dry_run_counts_and_changes_nothing_and_a_concurrent_change_is_read_again() -> None:
    orders = FakeOrders()
    order = stored(orders, "9004", "500", ChannelState.shipped)
    report = migrate(orders, lambda: NOW, dry_run=True)
    assert (report.migrated, report.still_open) == (1, [order.order_number])
    assert orders.get(order.order_id) == order

    real = orders.replace
    calls: list[int] = []

    def busy(changed: Order, expected: int) -> None:
        calls.append(expected)
        if len(calls) == 1:
            raise StaleWrite("changed meanwhile")
        real(changed, expected)

    orders.replace = busy  # type: ignore[method-assign]
    report = migrate(orders, lambda: NOW)
    assert (report.migrated, report.conflicts, len(calls)) == (1, [], 2)
    assert orders.get(order.order_id).channel_status == "IN_TRANSIT"
