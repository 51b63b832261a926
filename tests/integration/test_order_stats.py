"""GET /orders/stats from the daily counts the publisher keeps: WIB days, status moves, replays, backfill."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from oms import container
from oms.domain.capture import build_order
from oms.models.order import Order, OrderStatus
from tests.builders import a_draft
from tests.integration.conftest import Stack, client
from tests.support import FakeContext, StreamReader, http_event, load_handler

KNOWN = {"TSHIRT-BLK-M", "CAP-NAVY"}
# 17:30 UTC on 1 December is 00:30 WIB on 2 December: the order counts on the 2nd.
LATE_EVENING_UTC = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


@pytest.fixture
def api() -> ModuleType:
    module = load_handler("functions/ingestion/app.py")
    module._now = lambda: NOW  # the default range ends now: an explicit now, not the wall clock
    return module


@pytest.fixture
def publisher() -> ModuleType:
    return load_handler("functions/ingestion/publisher.py")


def _order(n: int, at: datetime, channel: str = "pos") -> Order:
    draft = a_draft(channel=channel, channel_order_id=f"STATS-{n}", channel_updated_at=at, placed_at=at)
    return build_order(draft, order_number=f"OMS-S{n:05d}", known_skus=KNOWN, now=at)


def _moved(order: Order, status: OrderStatus) -> Order:
    return order.model_copy(update={"status": status, "version": order.version + 1})


def _stats(api: ModuleType, **query: str) -> tuple[int, dict[str, Any]]:
    event = http_event("GET", "/orders/stats", "/orders/stats", None, "oms_local_ops_key_cs")
    event["queryStringParameters"] = query or None
    answer = api.lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def _drain(stack: Stack, publisher: ModuleType, reader: StreamReader | None = None) -> list[dict[str, Any]]:
    """Every new record of the orders stream, handed to the publisher; the events it got (for replays)."""
    reader = reader or StreamReader(client, stack.resources.streams["OrdersTable"])
    events = []
    while (event := reader.next_event()) is not None:
        assert publisher.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
        events.append(event)
    return events


DAY_2 = {"created_from": "2026-12-02T00:00:00+07:00", "created_to": "2026-12-02T23:59:59+07:00"}


def test_orders_count_on_their_wib_day_and_move_with_their_status(
    stack: Stack, api: ModuleType, publisher: ModuleType
) -> None:
    orders = container.orders()
    first, second = _order(1, LATE_EVENING_UTC), _order(2, LATE_EVENING_UTC, channel="web")
    earlier = _order(3, LATE_EVENING_UTC - timedelta(hours=1))  # 23:30 WIB on the 1st
    for order in (first, second, earlier):
        assert orders.insert(order) is None
    reader = StreamReader(client, stack.resources.streams["OrdersTable"])
    _drain(stack, publisher, reader)

    status, stats = _stats(api, **DAY_2)
    assert status == 200, stats
    assert stats["total"] == 2 and stats["by_channel"] == {"pos": 1, "web": 1}
    assert stats["created_from"].startswith("2026-12-02T00:00:00") and stats["created_from"].endswith("+07:00")
    assert stats["created_to"].startswith("2026-12-02T23:59:59.999999")
    # Whole WIB days: 00:00 UTC on the 2nd is 07:00 WIB, yet the whole day counts.
    assert _stats(api, created_from="2026-12-02T00:00:00Z", created_to="2026-12-02T00:00:00Z")[1]["total"] == 2
    day_1 = {"created_from": "2026-12-01T00:00:00+07:00", "created_to": "2026-12-01T12:00:00+07:00"}
    assert _stats(api, **day_1)[1]["by_status_and_channel"] == [
        {"status": earlier.status.value, "channel": "pos", "orders": 1}
    ]

    orders.replace(_moved(first, OrderStatus.cancelled), first.version)
    _drain(stack, publisher, reader)
    stats = _stats(api, **DAY_2)[1]
    assert stats["total"] == 2
    assert stats["by_status_and_channel"] == sorted(
        [
            {"status": "cancelled", "channel": "pos", "orders": 1},
            {"status": second.status.value, "channel": "web", "orders": 1},
        ],
        key=lambda row: (row["status"], row["channel"]),
    )
    # The default range: the 30 days up to now (NOW is 7 December), whole WIB days.
    assert _stats(api)[1]["total"] == 3


def test_a_replayed_or_repeated_stream_record_counts_once(stack: Stack, api: ModuleType, publisher: ModuleType) -> None:
    orders = container.orders()
    order = _order(10, LATE_EVENING_UTC)
    orders.insert(order)
    reader = StreamReader(client, stack.resources.streams["OrdersTable"])
    created = _drain(stack, publisher, reader)
    shipped = _moved(order, OrderStatus.allocated)
    orders.replace(shipped, order.version)
    moved = _drain(stack, publisher, reader)
    delivered = _moved(shipped, OrderStatus.delivered)
    orders.replace(delivered, shipped.version)
    last = _drain(stack, publisher, reader)

    for event in [*created, *moved, *last, *moved, *created, *last]:  # retried batches, old ones late
        assert publisher.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    both = [dict(record) for event in [*created, *moved] for record in event["Records"]]
    assert publisher.lambda_handler({"Records": both}, FakeContext()) == {"batchItemFailures": []}  # as one batch

    stats = _stats(api, **DAY_2)[1]
    assert stats["total"] == 1 and stats["by_status"] == {"delivered": 1}


def test_orders_stored_before_the_counts_are_backfilled_once(
    stack: Stack, api: ModuleType, publisher: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from tests.support import ROOT

    orders = container.orders()
    stored = [_order(20 + n, LATE_EVENING_UTC + timedelta(minutes=n)) for n in range(3)]
    for order in stored:
        orders.insert(order)  # the publisher has not run: no counts yet
    assert _stats(api, **DAY_2)[1]["total"] == 0
    spec = importlib.util.spec_from_file_location("oms_admin", ROOT / "scripts/oms_admin.py")
    assert spec is not None and spec.loader is not None
    admin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(admin)
    admin.main(["--stage", "test", "orders", "backfill-lookups"])
    assert "3 order(s): lookup items written" in capsys.readouterr().out
    assert _stats(api, **DAY_2)[1]["total"] == 3
    admin.main(["--stage", "test", "orders", "backfill-lookups"])  # run again: nothing counted twice
    _drain(stack, publisher)  # the stream catches up afterwards: its creations are counted already
    assert _stats(api, **DAY_2)[1]["total"] == 3

    # An order stored before the counts that then changes: the stream counts it from what is counted.
    orders.replace(_moved(stored[0], OrderStatus.cancelled), stored[0].version)
    _drain(stack, publisher, StreamReader(client, stack.resources.streams["OrdersTable"]))
    assert _stats(api, **DAY_2)[1]["by_status"] == {stored[1].status.value: 2, "cancelled": 1}


def test_an_order_changed_before_its_count_existed_is_counted_by_the_stream(
    stack: Stack, api: ModuleType, publisher: ModuleType
) -> None:
    orders = container.orders()
    order = _order(30, LATE_EVENING_UTC)
    orders.insert(order)
    reader = StreamReader(client, stack.resources.streams["OrdersTable"])
    reader.next_event()  # its creation is lost (the counts came after it)
    orders.replace(_moved(order, OrderStatus.cancelled), order.version)
    _drain(stack, publisher, reader)
    assert _stats(api, **DAY_2)[1]["by_status"] == {"cancelled": 1}


def test_92_days_are_one_batch_read_and_the_bounds_hold(stack: Stack, api: ModuleType) -> None:
    from oms.adapters import aws

    calls: list[str] = []
    aws.client("dynamodb").meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    status, stats = _stats(api, created_from="2026-09-06T10:00:00+07:00", created_to="2026-12-07T10:00:00+07:00")
    assert status == 200 and stats["total"] == 0
    # 93 WIB days (92 days apart, both ends' days) in one request (the other call reads the API key)
    assert calls.count("BatchGetItem") == 1 and not {"Query", "Scan"} & set(calls)

    too_long = {"created_from": "2026-09-06T09:59:59+07:00", "created_to": "2026-12-07T10:00:00+07:00"}
    assert _stats(api, **too_long)[0] == 400
    backwards = {"created_from": "2026-12-07T10:00:00+07:00", "created_to": "2026-12-06T10:00:00+07:00"}
    assert _stats(api, **backwards)[0] == 400
    assert _stats(api, created_to="0001-01-02T00:00:00+00:00")[0] == 422  # out of range, as in a body
    assert _stats(api, created_from="2026-12-01T00:00:00")[0] == 422  # no offset: the field is invalid, as in a body


def test_a_count_moves_from_what_is_counted_when_the_stream_image_says_otherwise(stack: Stack) -> None:
    from datetime import date

    from oms.adapters.counters import DailyOrderCounts
    from oms.domain.order_stats import CountKey, stats_range

    counts = DailyOrderCounts(stack.env["ORDERS_TABLE"])
    day = date(2026, 12, 2)
    received, allocated, cancelled = (CountKey(day, status, "pos") for status in ("received", "allocated", "cancelled"))
    assert counts.count("ord_1", 1, received, None)  # counted by the backfill at version 1
    # Version 2 (received -> allocated) never reached the counts; version 3 (allocated -> cancelled) does.
    assert counts.count("ord_1", 3, cancelled, allocated)
    assert counts.mark("ord_1") == (3, cancelled)
    assert not counts.count("ord_1", 2, allocated, received)  # version 2 replayed late: older than what is counted
    window = stats_range(datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC), NOW)
    assert sorted((pair, n) for pair, n in counts.read(window.days) if n) == [(("cancelled", "pos"), 1)]
