"""The Tokopedia migration against the orders table (moto): every tokopedia order however old, by a scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oms import container
from oms.domain.capture import build_order
from oms.domain.tokopedia_legacy import LEGACY_TAG, migrate
from oms.models.order import Order
from tests.builders import a_draft
from tests.integration.conftest import Stack

KNOWN = {"TSHIRT-BLK-M", "CAP-NAVY"}
BEFORE_THE_CLOSE = datetime(2025, 9, 1, 3, 0, tzinfo=UTC)  # Tokopedia's Open API closed on 2025-09-30
NOW = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)


def _order(n: int, channel: str, status: str, state: str, at: datetime) -> Order:
    draft = a_draft(channel=channel, channel_order_id=f"{9000 + n}", channel_status=status, channel_state=state,
                    channel_updated_at=at, placed_at=at)  # fmt: skip
    return build_order(draft, order_number=f"OMS-T{n:05d}", known_skus=KNOWN, now=at)


def test_legacy_tokopedia_orders_of_any_age_are_migrated_once(stack: Stack) -> None:
    orders = container.orders()
    legacy = [_order(n, "tokopedia", "700", "completed", BEFORE_THE_CLOSE + timedelta(days=n)) for n in range(3)]
    current = _order(7, "tokopedia", "IN_TRANSIT", "shipped", NOW - timedelta(days=1))
    other = _order(8, "shopee", "700", "completed", BEFORE_THE_CLOSE)
    for order in (*legacy, current, other):
        assert orders.insert(order) is None

    report = migrate(orders, lambda: NOW)

    assert (report.scanned, report.migrated, report.still_open, report.conflicts) == (4, 3, [], [])
    for order in legacy:
        after = orders.get(order.order_id, consistent=True)
        assert after.channel_status == "COMPLETED" and LEGACY_TAG in after.tags
    assert orders.get(current.order_id, consistent=True) == current
    assert orders.get(other.order_id, consistent=True) == other
    assert migrate(orders, lambda: NOW).migrated == 0
