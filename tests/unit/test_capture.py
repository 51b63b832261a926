"""Order capture: one order per channel order, newer wins, holds not drops."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oms.domain.capture import CaptureService, Outcome, order_id_for
from oms.models.order import HoldCode, OrderStatus
from tests.builders import a_draft, later
from tests.fakes import FakeCatalog, FakeNumbers, FakeOrders

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


@pytest.fixture
def service(orders: FakeOrders) -> CaptureService:
    return CaptureService(orders, FakeCatalog({"TSHIRT-BLK-M", "CAP-NAVY"}), FakeNumbers())


def test_a_new_order_is_received_with_a_number(service: CaptureService) -> None:
    result = service.capture(a_draft(), NOW, likely_new=True)
    assert result.outcome is Outcome.created
    assert result.order.status is OrderStatus.received
    assert result.order.order_number == "OMS-0000001"
    assert result.order.order_id == order_id_for("pos", "POS-JKT01-000123")
    assert result.order.holds == []


def test_the_same_order_three_times_is_one_order(service: CaptureService, orders: FakeOrders) -> None:
    outcomes = [service.capture(a_draft(), NOW, likely_new=True).outcome for _ in range(3)]
    assert outcomes == [Outcome.created, Outcome.duplicate, Outcome.duplicate]
    assert len(orders.orders) == 1
    assert orders.writes == 1


def test_a_number_is_not_burnt_by_a_repeat(service: CaptureService) -> None:
    service.capture(a_draft(), NOW, likely_new=True)
    service.capture(a_draft(), NOW, likely_new=True)
    second = service.capture(a_draft(channel_order_id="POS-2"), NOW, likely_new=True)
    assert second.order.order_number == "OMS-0000002"


def test_a_newer_update_is_applied_and_a_stale_one_ignored(service: CaptureService) -> None:
    # Given an unpaid order, then its paid update, then the unpaid one again (late)
    unpaid = a_draft(payment={"status": "pending"})
    paid = a_draft(payment={"status": "paid"}, channel_updated_at=later(5))
    first = service.capture(unpaid, NOW)
    assert first.order.status is OrderStatus.on_hold
    # When
    update = service.capture(paid, NOW)
    late = service.capture(unpaid, NOW)
    # Then
    assert update.outcome is Outcome.updated
    assert update.order.status is OrderStatus.received
    assert update.order.version == 2
    assert update.order.order_number == first.order.order_number
    assert late.outcome is Outcome.duplicate or late.outcome is Outcome.stale
    assert late.order.status is OrderStatus.received


def test_out_of_order_arrival_converges(orders: FakeOrders) -> None:
    # Given three updates of one order at the same channel time (paid and updated share a second)
    drafts = [
        a_draft(payment={"status": "pending"}),
        a_draft(payment={"status": "paid"}, channel_updated_at=later(1)),
        a_draft(payment={"status": "paid"}, channel_updated_at=later(1), notes="gift wrap"),
    ]
    finals = []
    for order in (drafts, list(reversed(drafts)), [drafts[1], drafts[0], drafts[2]]):
        store = FakeOrders()
        service = CaptureService(store, FakeCatalog({"TSHIRT-BLK-M", "CAP-NAVY"}), FakeNumbers())
        for draft in order:
            service.capture(draft, NOW)
        (final,) = store.orders.values()
        finals.append((final.content_hash, final.status))
    # Then every arrival order ends in the same state
    assert len(set(finals)) == 1


def test_cancellation_wins_at_equal_time(service: CaptureService) -> None:
    service.capture(a_draft(channel_updated_at=later(3)), NOW)
    result = service.capture(a_draft(cancelled=True, channel_updated_at=later(3)), NOW)
    assert result.order.status is OrderStatus.cancelled


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"lines": [{"line_id": "1", "sku": "NOPE-1", "quantity": 1, "unit_price": "1000"}]}, HoldCode.unknown_sku),
        ({"lines": [{"line_id": "1", "sku": "", "quantity": 1, "unit_price": "1000"}]}, HoldCode.unknown_sku),
        ({"payment": {"status": "pending", "cod": False}}, HoldCode.unpaid),
        ({"shipping_address": None}, HoldCode.incomplete_address),
        ({"shipping_address": {"name": "A", "line1": "Jl. X", "country": "ID"}}, HoldCode.incomplete_address),
        ({"delivery_method": "pickup", "shipping_address": None}, HoldCode.no_pickup_store),
    ],
)
def test_holds_instead_of_drops(service: CaptureService, overrides: dict, code: HoldCode) -> None:
    result = service.capture(a_draft(**overrides), NOW)
    assert result.outcome is Outcome.created
    assert result.order.status is OrderStatus.on_hold
    assert code in [hold.code for hold in result.order.holds]


def test_cod_is_not_held_for_payment(service: CaptureService) -> None:
    result = service.capture(a_draft(payment={"status": "pending", "cod": True}), NOW)
    assert result.order.status is OrderStatus.received


def test_the_hold_reason_names_the_missing_fields(service: CaptureService) -> None:
    result = service.capture(a_draft(shipping_address={"name": "A", "line1": "Jl. X", "country": "ID"}), NOW)
    assert "city" in result.order.holds[0].message
    assert "postal_code" in result.order.holds[0].message


def test_express_goes_first(service: CaptureService) -> None:
    instant = service.capture(a_draft(service_level="instant", channel_order_id="A"), NOW).order
    regular = service.capture(a_draft(channel_order_id="B"), NOW).order
    assert instant.priority < regular.priority


def test_the_catalog_cache_asks_only_for_skus_not_known_yet() -> None:
    from oms.adapters.catalog import CachedCatalog

    class Counting(FakeCatalog):
        asked: list[set[str]]

        def known_skus(self, skus: set[str]) -> set[str]:
            self.asked.append(set(skus))
            return super().known_skus(skus)

    inner = Counting({"A", "B"})
    inner.asked = []
    catalog = CachedCatalog(inner)
    assert catalog.known_skus({"A", "X"}) == {"A"}
    assert catalog.known_skus({"A", "B", "X"}) == {"A", "B"}
    # A is remembered; the unknown X is asked again (it may have been added since)
    assert inner.asked == [{"A", "X"}, {"B", "X"}]


def test_at_the_same_second_paid_is_not_undone_by_a_late_pending(service: CaptureService) -> None:
    # Given WooCommerce's pending and processing updates stamped in the same second
    pending = a_draft(payment={"status": "pending"}, channel_updated_at=later(1), notes="a")
    paid = a_draft(payment={"status": "paid"}, channel_updated_at=later(1), notes="b")
    service.capture(paid, NOW)
    # When the pending one arrives last
    result = service.capture(pending, NOW)
    # Then it is stale: the order stays paid and received
    assert result.outcome is Outcome.stale
    assert result.order.status is OrderStatus.received


def test_a_channel_may_reinstate_what_it_cancelled(service: CaptureService) -> None:
    service.capture(a_draft(cancelled=True), NOW)
    result = service.capture(a_draft(channel_updated_at=later(5)), NOW)
    assert result.order.status is OrderStatus.received


def test_own_channels_get_a_conflict_for_other_content_at_the_same_time(service: CaptureService) -> None:
    from oms.errors import Conflict

    service.capture(a_draft(), NOW, likely_new=True, strict=True)
    with pytest.raises(Conflict, match="later channel_updated_at"):
        service.capture(a_draft(notes="changed"), NOW, likely_new=True, strict=True)
    updated = service.capture(a_draft(notes="changed", channel_updated_at=later(1)), NOW, strict=True)
    assert updated.outcome is Outcome.updated
