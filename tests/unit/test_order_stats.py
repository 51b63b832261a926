"""Order counts per WIB day: days from explicit instants, ranges, count moves, the answer's shape."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from oms.adapters.orders import count_item
from oms.domain.capture import build_order
from oms.domain.order_stats import CountKey, count_key, counts_change, deltas, stats_range, summarize, wib_day
from oms.models.order import Order, OrderStatus
from tests.builders import a_draft

KNOWN = {"TSHIRT-BLK-M", "CAP-NAVY"}
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # 12:00 WIB on 7 December


def _order(at: datetime, channel: str = "pos") -> Order:
    draft = a_draft(channel=channel, channel_updated_at=at, placed_at=at)
    return build_order(draft, order_number="OMS-1", known_skus=KNOWN, now=at)


def test_a_wib_day_starts_at_17_00_utc_the_day_before() -> None:
    assert wib_day(datetime(2026, 12, 1, 17, 30, tzinfo=UTC)) == date(2026, 12, 2)  # 00:30 WIB
    assert wib_day(datetime(2026, 12, 1, 16, 59, 59, tzinfo=UTC)) == date(2026, 12, 1)  # 23:59:59 WIB
    assert count_key(_order(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))).day == date(2026, 12, 2)


def test_the_range_is_whole_wib_days_at_most_92_days_apart() -> None:
    window = stats_range(None, None, NOW)
    assert (window.first, window.last) == (date(2026, 11, 7), date(2026, 12, 7))  # 30 days back, both days
    assert len(window.days) == 31
    assert window.starts.isoformat() == "2026-11-07T00:00:00+07:00"
    assert window.ends.isoformat() == "2026-12-07T23:59:59.999999+07:00"
    end = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    longest = stats_range(end - timedelta(days=92), end, NOW)
    assert len(longest.days) == 93 and longest.days[0] == date(2026, 9, 6)
    with pytest.raises(ValueError, match="92 days"):
        stats_range(end - timedelta(days=92, seconds=1), end, NOW)
    with pytest.raises(ValueError):
        stats_range(end, end - timedelta(seconds=1), NOW)
    # 23:00 UTC on the 1st is 06:00 WIB on the 2nd: one day, the 2nd.
    late = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert stats_range(late, late, NOW).days == [date(2026, 12, 2)]


def test_a_count_moves_from_what_was_counted_to_what_is() -> None:
    day = date(2026, 12, 2)
    received, cancelled = CountKey(day, "received", "pos"), CountKey(day, "cancelled", "pos")
    assert deltas(None, received) == {day: {("received", "pos"): 1}}
    assert deltas(received, cancelled) == {day: {("received", "pos"): -1, ("cancelled", "pos"): 1}}
    assert deltas(received, received) == {}
    assert CountKey.parse(cancelled.text()) == cancelled


def test_only_changes_that_move_the_counts_are_written() -> None:
    order = _order(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    created = count_item(None, order)
    assert created is not None and "was" not in created
    assert created["sk"] == {"S": "COUNTED"} and created["counted"]["S"] == f"2026-12-02|{order.status.value}|pos"
    touched = order.model_copy(update={"version": 2, "hold_codes": []})
    assert not counts_change(order, touched) and count_item(order, touched) is None
    cancelled = touched.model_copy(update={"version": 3, "status": OrderStatus.cancelled})
    moved = count_item(touched, cancelled)
    assert moved is not None and moved["version"] == {"N": "3"}
    assert moved["was"]["S"] == f"2026-12-02|{order.status.value}|pos" and moved["counted"]["S"].endswith(
        "cancelled|pos"
    )


def test_the_answer_sums_days_and_leaves_out_what_is_not_there() -> None:
    window = stats_range(None, None, NOW)
    counts = [
        (("received", "pos"), 2),
        (("cancelled", "pos"), 0),  # every order counted here moved on
        (("received", "pos"), 1),  # another day
        (("shipped", "web"), 4),
    ]
    answer = summarize(window, counts)
    assert answer["total"] == 7
    assert answer["by_status"] == {"received": 3, "shipped": 4}
    assert answer["by_channel"] == {"pos": 3, "web": 4}
    assert answer["by_status_and_channel"] == [
        {"status": "received", "channel": "pos", "orders": 3},
        {"status": "shipped", "channel": "web", "orders": 4},
    ]
    assert answer["created_from"] == window.starts


def test_the_publisher_hands_count_writes_with_the_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import FakeContext, FakeOrders, FakePublisher
    from tests.support import load_handler
    from tests.unit.test_publisher import record

    class Recording(FakeOrders):
        def __init__(self) -> None:
            super().__init__()
            self.writes_seen: list[tuple[str, dict]] = []

        def put_lookups(self, changes: list) -> None:
            self.writes_seen += changes

    stored = Recording()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OMS")
    order = _order(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    touched = order.model_copy(update={"version": 2, "customer": order.customer.model_copy(update={"name": "S"})})
    cancelled = touched.model_copy(update={"version": 3, "status": OrderStatus.cancelled})
    handler = load_handler("functions/ingestion/publisher.py").lambda_handler
    batch = {"Records": [record(1, None, order), record(2, order, touched), record(3, touched, cancelled)]}
    assert handler(batch, FakeContext(), store=stored, bus=FakePublisher()) == {"batchItemFailures": []}
    counts = [item for kind, item in stored.writes_seen if kind == "count"]
    assert [(item["version"]["N"], item["counted"]["S"].split("|")[1]) for item in counts] == [
        ("1", order.status.value),
        ("3", "cancelled"),
    ]
