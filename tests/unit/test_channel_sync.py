"""Marketplace orders from the channels' APIs: what is fetched, what is skipped, what is quarantined,
and the reconciliation pull (ports faked; the channel documents here are already drafts' values)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from oms.channels.marketplace import ChannelNotice
from oms.domain.capture import CaptureService, Outcome, order_id_for
from oms.domain.channel_sync import (
    ChannelOrderApi,
    ChannelReconciler,
    ChannelSync,
    FetchQueue,
    FetchRequest,
    UpdatedOrder,
    UpdatedPage,
)
from oms.errors import DependencyError, NormalizationError
from oms.models.order import Channel, ChannelState, FlagCode, OrderDraft, OrderStatus
from tests.builders import T0, draft_values
from tests.fakes import FakeCatalog, FakeCursors, FakeInbox, FakeNumbers, FakeOrders

NOW = T0 + timedelta(hours=1)


def document(order_id: str, *, status: str = "READY_TO_SHIP", state: str = "ready", minutes: int = 0, **more) -> dict:
    return draft_values(
        channel="shopee",
        channel_order_id=order_id,
        channel_status=status,
        channel_state=state,
        channel_updated_at=T0 + timedelta(minutes=minutes),
        **more,
    )


def as_draft(doc: dict) -> OrderDraft:
    if doc.get("broken"):
        raise NormalizationError("missing order_sn")
    return OrderDraft.model_validate(doc)


class FakeApi(ChannelOrderApi):
    def __init__(self) -> None:
        self.documents: dict[tuple[Channel, str], dict] = {}
        self.down: set[Channel | tuple[Channel, str | None]] = set()
        self.calls: list[tuple[Channel, list[str]]] = []
        self.pages: list[UpdatedPage] = []

    def get_orders(self, channel: Channel, shop_id: str | None, channel_order_ids: list[str]) -> dict[str, dict]:
        self.calls.append((channel, channel_order_ids))
        if channel in self.down:
            raise DependencyError(f"{channel.value} API answered 503 after 3 tries")
        return {i: self.documents[(channel, i)] for i in channel_order_ids if (channel, i) in self.documents}

    def updated_orders(
        self, channel: Channel, since: datetime, until: datetime, cursor: str | None, shop_id: str | None = None
    ) -> UpdatedPage:
        if channel in self.down or (channel, shop_id) in self.down:
            raise DependencyError("down")
        return self.pages.pop(0)


class FakeQueue(FetchQueue):
    def __init__(self) -> None:
        self.sent: list[FetchRequest] = []

    def send(self, requests: list[FetchRequest]) -> None:
        self.sent.extend(requests)


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def inbox() -> FakeInbox:
    return FakeInbox()


@pytest.fixture
def sync(orders: FakeOrders, api: FakeApi, queue: FakeQueue, inbox: FakeInbox) -> ChannelSync:
    capture = CaptureService(orders, FakeCatalog({"TSHIRT-BLK-M", "CAP-NAVY"}), FakeNumbers())
    return ChannelSync(orders, queue, api, capture, inbox, lambda: NOW, normalizer=lambda channel: as_draft)


def notice(order_id: str, minutes: int = 0, status: str = "READY_TO_SHIP") -> ChannelNotice:
    return ChannelNotice(Channel.shopee, order_id, "order_status", "880011", status, T0 + timedelta(minutes=minutes))


def test_a_push_for_an_order_the_oms_lacks_is_queued_once(sync: ChannelSync, queue: FakeQueue) -> None:
    # Given a push naming the same order twice (a package update), and another order
    queued = sync.request([notice("A"), notice("A"), notice("B")], inbox_key="shopee#msg:1")
    # Then each order is fetched once, and the push is remembered for quarantine
    assert [r.channel_order_id for r in queued] == ["A", "B"]
    assert queue.sent == queued
    assert {r.inbox_key for r in queued} == {"shopee#msg:1"}


def test_a_fetch_captures_the_channels_current_order(sync: ChannelSync, api: FakeApi, orders: FakeOrders) -> None:
    api.documents[(Channel.shopee, "A")] = document("A")
    outcome = sync.fetch([FetchRequest.from_notice(notice("A"), "k")])
    (result,) = outcome.captured.values()
    assert result.outcome is Outcome.created
    stored = orders.get(order_id_for("shopee", "A"))
    assert stored is not None and stored.channel_state is ChannelState.ready


def test_old_and_repeated_pushes_are_not_fetched_again(sync: ChannelSync, api: FakeApi, queue: FakeQueue) -> None:
    # Given the order captured as the channel showed it at minute 10
    api.documents[(Channel.shopee, "A")] = document("A", status="SHIPPED", state="shipped", minutes=10)
    sync.fetch([FetchRequest.from_notice(notice("A", 10), None)])
    # When late pushes arrive for minute 0 (READY_TO_SHIP) and minute 10 (SHIPPED, a repeat)
    queued = sync.request([notice("A", 0), notice("A", 10, "SHIPPED")], inbox_key=None)
    # Then nothing is fetched: the stored order already says more
    assert queued == []
    # And a push about minute 11 is fetched
    assert len(sync.request([notice("A", 11, "COMPLETED")], inbox_key=None)) == 1


def test_statuses_fetched_out_of_order_end_in_the_later_state(
    sync: ChannelSync, api: FakeApi, orders: FakeOrders
) -> None:
    api.documents[(Channel.shopee, "A")] = document("A", status="SHIPPED", state="shipped", minutes=10)
    sync.fetch([FetchRequest.from_notice(notice("A", 10), None)])
    # A slow fetch answered with an older document (a cache behind the channel's API)
    api.documents[(Channel.shopee, "A")] = document("A", status="READY_TO_SHIP", state="ready", minutes=0)
    (result,) = sync.fetch([FetchRequest.from_notice(notice("A", 0), None)]).captured.values()
    assert result.outcome is Outcome.stale
    assert orders.get(order_id_for("shopee", "A")).channel_status == "SHIPPED"


def test_at_the_same_channel_time_the_further_state_wins(sync: ChannelSync, api: FakeApi, orders: FakeOrders) -> None:
    for status, state in (("SHIPPED", "shipped"), ("PROCESSED", "arranged")):
        api.documents[(Channel.shopee, "A")] = document("A", status=status, state=state, minutes=5)
        sync.fetch([FetchRequest.from_notice(notice("A", 5), None)])
    assert orders.get(order_id_for("shopee", "A")).channel_status == "SHIPPED"


def test_an_unknown_status_is_kept_and_flagged_not_guessed(sync: ChannelSync, api: FakeApi, orders: FakeOrders) -> None:
    api.documents[(Channel.shopee, "A")] = document("A", status="TELEPORTED", state="unknown")
    sync.fetch([FetchRequest.from_notice(notice("A"), None)])
    order = orders.get(order_id_for("shopee", "A"))
    assert order.channel_status == "TELEPORTED"
    assert [flag.code for flag in order.flags] == [FlagCode.channel_status_unknown]
    assert "TELEPORTED" in order.flags[0].message
    # When the channel moves on to a known status, the flag goes
    api.documents[(Channel.shopee, "A")] = document("A", status="READY_TO_SHIP", state="ready", minutes=1)
    sync.fetch([FetchRequest.from_notice(notice("A", 1), None)])
    assert orders.get(order_id_for("shopee", "A")).flags == []


def test_a_cancel_request_is_flagged_and_the_cancellation_cancels(
    sync: ChannelSync, api: FakeApi, orders: FakeOrders
) -> None:
    api.documents[(Channel.shopee, "A")] = document("A", status="IN_CANCEL", state="cancel_requested")
    sync.fetch([FetchRequest.from_notice(notice("A"), None)])
    assert [f.code for f in orders.get(order_id_for("shopee", "A")).flags] == [FlagCode.cancel_requested]
    api.documents[(Channel.shopee, "A")] = document(
        "A", status="CANCELLED", state="cancelled", minutes=3, cancelled=True, cancel_reason="buyer"
    )
    sync.fetch([FetchRequest.from_notice(notice("A", 3), None)])
    order = orders.get(order_id_for("shopee", "A"))
    assert order.status is OrderStatus.cancelled
    assert order.flags == []


def test_unknown_bad_and_failing_orders_are_told_apart(sync: ChannelSync, api: FakeApi) -> None:
    api.documents[(Channel.shopee, "GOOD")] = document("GOOD")
    api.documents[(Channel.shopee, "BROKEN")] = {"broken": True}
    api.down.add(Channel.lazada)
    requests = [
        FetchRequest(Channel.shopee, "GOOD", "order_status", "880011"),
        FetchRequest(Channel.shopee, "BROKEN", "order_status", "880011"),
        FetchRequest(Channel.shopee, "GHOST", "order_status", "880011"),
        FetchRequest(Channel.lazada, "L1", "order_status", None),
    ]
    outcome = sync.fetch(requests)
    # One call per channel and shop; Lazada's outage does not hold up Shopee's orders
    assert api.calls == [(Channel.shopee, ["GOOD", "BROKEN", "GHOST"]), (Channel.lazada, ["L1"])]
    assert [key[2] for key in outcome.captured] == ["GOOD"]
    assert outcome.bad == {("shopee", "880011", "BROKEN"): "missing order_sn"}
    assert [r.channel_order_id for r in outcome.unknown] == ["GHOST"]
    assert list(outcome.failed) == [("lazada", None, "L1")]


def test_giving_up_quarantines_the_push_that_asked_or_the_request_itself(sync: ChannelSync, inbox: FakeInbox) -> None:
    # A push's fetch: the push is quarantined
    sync.give_up(FetchRequest(Channel.shopee, "GHOST", "order_status", inbox_key="shopee#msg:9"), "unknown")
    # The reconciliation pull's own fetch: the request is kept as a quarantined inbox entry, for a replay
    sync.give_up(FetchRequest(Channel.shopee, "GHOST2", "reconcile", "880011"), "bad document")
    assert inbox.quarantined["shopee#msg:9"] == "unknown"
    (kept,) = [entry for key, entry in inbox.entries.items() if key != "shopee#msg:9"]
    assert kept.topic == "fetch_request"
    assert inbox.quarantined[kept.pk] == "bad document"
    # And replaying that entry asks the channel again
    from oms.domain.normalization import normalize_entry

    (notice,) = normalize_entry(kept).fetch
    assert (notice.channel_order_id, notice.shop_id) == ("GHOST2", "880011")


def test_a_fetch_request_survives_the_queue() -> None:
    request = FetchRequest(Channel.tiktok, "5764", "cancellation", "749", T0, "tiktok#notification:1")
    assert FetchRequest.from_message(request.to_message()) == request


# --- reconciliation --------------------------------------------------------------------------------


@pytest.fixture
def cursors() -> FakeCursors:
    return FakeCursors()


@pytest.fixture
def reconciler(api: FakeApi, sync: ChannelSync, cursors: FakeCursors) -> ChannelReconciler:
    return ChannelReconciler(api, sync, cursors, lambda: NOW)


def test_reconciliation_fetches_only_what_the_oms_lacks(
    reconciler: ChannelReconciler, sync: ChannelSync, api: FakeApi, queue: FakeQueue, cursors: FakeCursors
) -> None:
    # Given order A captured at minute 5, and the channel listing A (at 5), B (missed), and A's later change
    api.documents[(Channel.shopee, "A")] = document("A", minutes=5)
    sync.fetch([FetchRequest(Channel.shopee, "A", "order_status")])
    api.pages = [
        UpdatedPage([UpdatedOrder("A", T0 + timedelta(minutes=5)), UpdatedOrder("B", T0)], next_cursor="2"),
        UpdatedPage([UpdatedOrder("C", None, status="READY_TO_SHIP")], next_cursor=None),
    ]
    result = reconciler.run(Channel.shopee)
    # Then B and C are queued, A is not
    assert [r.channel_order_id for r in queue.sent] == ["B", "C"]
    assert {r.reason for r in queue.sent} == {"reconcile"}
    assert result == {"listed": 3, "requested": 2, "complete": 1, "recovered": 0, "shops": 1, "failed": 0}
    # And the next pass starts a little before this one ended
    until = NOW - ChannelReconciler.SETTLE
    stored = json.loads(cursors.values["reconcile:shopee"])
    assert stored == {"next": (until - ChannelReconciler.OVERLAP).astimezone(UTC).isoformat()}


def test_a_listed_status_the_oms_already_shows_is_not_fetched(
    reconciler: ChannelReconciler, sync: ChannelSync, api: FakeApi, queue: FakeQueue
) -> None:
    api.documents[(Channel.shopee, "A")] = document("A")
    sync.fetch([FetchRequest(Channel.shopee, "A", "order_status")])
    api.pages = [UpdatedPage([UpdatedOrder("A", None, status="READY_TO_SHIP"), UpdatedOrder("A2", None, status="X")])]
    reconciler.run(Channel.shopee)
    assert [r.channel_order_id for r in queue.sent] == ["A2"]


def test_a_failed_pass_keeps_the_cursor(reconciler: ChannelReconciler, api: FakeApi, cursors: FakeCursors) -> None:
    cursors.values["reconcile:lazada"] = "2026-11-19T00:00:00+00:00"
    api.down.add(Channel.lazada)
    with pytest.raises(DependencyError):
        reconciler.run(Channel.lazada)
    assert cursors.values["reconcile:lazada"] == "2026-11-19T00:00:00+00:00"


def test_the_first_pass_looks_back_three_days_and_a_long_outage_is_walked_window_by_window(
    reconciler: ChannelReconciler, api: FakeApi, cursors: FakeCursors
) -> None:
    seen: list[tuple[datetime, datetime]] = []
    api.updated_orders = (  # type: ignore[method-assign]
        lambda channel, since, until, cursor, shop_id=None: seen.append((since, until)) or UpdatedPage([])
    )
    reconciler.run(Channel.tiktok)
    old = datetime(2026, 10, 1, tzinfo=UTC)
    cursors.values["reconcile:tiktok"] = json.dumps({"next": old.isoformat()})
    reconciler.run(Channel.tiktok)
    reconciler.run(Channel.tiktok)
    until = NOW - ChannelReconciler.SETTLE
    assert seen[0] == (until - timedelta(days=3), until)
    # 55 days behind: the next passes take 15 days each, from where the outage began (minus the overlap)
    assert seen[1] == (old, old + timedelta(days=15))
    assert seen[2] == (
        old + timedelta(days=15) - ChannelReconciler.OVERLAP,
        old + timedelta(days=30) - ChannelReconciler.OVERLAP,
    )


def test_a_window_longer_than_one_pass_resumes_from_its_page(
    api: FakeApi, sync: ChannelSync, cursors: FakeCursors, queue: FakeQueue
) -> None:
    reconciler = ChannelReconciler(api, sync, cursors, lambda: NOW, max_pages=2)
    api.pages = [UpdatedPage([UpdatedOrder(f"P{n}", T0)], next_cursor=str(n + 1)) for n in range(4)]
    api.pages.append(UpdatedPage([UpdatedOrder("P4", T0)], next_cursor=None))
    first = reconciler.run(Channel.shopee)
    assert first["complete"] == 0
    assert json.loads(cursors.values["reconcile:shopee"])["page"] == "2"
    reconciler.run(Channel.shopee)
    last = reconciler.run(Channel.shopee)
    # Every page was read once, across three passes, and every order queued
    assert [r.channel_order_id for r in queue.sent] == ["P0", "P1", "P2", "P3", "P4"]
    assert last["complete"] == 1 and "next" in json.loads(cursors.values["reconcile:shopee"])


def test_a_list_by_placing_time_is_looked_at_whole_each_pass(
    api: FakeApi, sync: ChannelSync, cursors: FakeCursors
) -> None:
    seen: list[tuple[datetime, datetime]] = []
    api.updated_orders = (  # type: ignore[method-assign]
        lambda channel, since, until, cursor, shop_id=None: seen.append((since, until)) or UpdatedPage([])
    )
    api.creation_window = lambda channel: timedelta(days=7)  # type: ignore[method-assign]
    reconciler = ChannelReconciler(api, sync, cursors, lambda: NOW)
    reconciler.run(Channel.lazada)
    reconciler.run(Channel.lazada)
    until = NOW - ChannelReconciler.SETTLE
    assert seen == [(until - timedelta(days=7), until)] * 2


def test_same_second_news_with_another_status_is_fetched(sync: ChannelSync, api: FakeApi) -> None:
    api.documents[(Channel.shopee, "A")] = document("A", minutes=5)
    sync.fetch([FetchRequest.from_notice(notice("A", 5), None)])
    assert sync.request([notice("A", 5, "READY_TO_SHIP")], None) == []
    assert len(sync.request([notice("A", 5, "PROCESSED")], None)) == 1


def test_an_api_behind_its_push_is_captured_and_asked_again(sync: ChannelSync, api: FakeApi) -> None:
    api.documents[(Channel.shopee, "A")] = document("A", minutes=0)
    outcome = sync.fetch([FetchRequest.from_notice(notice("A", 5, "SHIPPED"), None)])
    assert ("shopee", "880011", "A") in outcome.captured
    assert outcome.lagging == {("shopee", "880011", "A")}


def test_one_order_that_cannot_be_stored_does_not_fail_the_others(
    sync: ChannelSync, api: FakeApi, orders: FakeOrders
) -> None:
    api.documents[(Channel.shopee, "A")] = document("A")
    api.documents[(Channel.shopee, "B")] = document("B")
    real = orders.insert

    def insert(order):  # type: ignore[no-untyped-def]
        if order.channel_order_id == "A":
            raise DependencyError("DynamoDB throttled")
        return real(order)

    orders.insert = insert  # type: ignore[method-assign]
    outcome = sync.fetch(
        [FetchRequest(Channel.shopee, "A", "push", "880011"), FetchRequest(Channel.shopee, "B", "push", "880011")]
    )
    assert list(outcome.failed) == [("shopee", "880011", "A")]
    assert list(outcome.captured) == [("shopee", "880011", "B")]


def test_lost_pushes_are_taken_back_into_the_inbox_then_confirmed(
    reconciler: ChannelReconciler, api: FakeApi, inbox: FakeInbox
) -> None:
    push = json.dumps({"shop_id": 880011, "code": 3, "timestamp": 1,
                       "data": {"ordersn": "L1", "status": "READY_TO_SHIP", "update_time": 1}}).encode()  # fmt: skip
    batches = [([push, push], "7"), ([], None)]
    confirmed: list[str] = []
    api.lost_pushes = lambda channel: batches.pop(0)  # type: ignore[method-assign]
    api.confirm_lost_pushes = lambda channel, mark: confirmed.append(mark)  # type: ignore[method-assign]
    api.pages = [UpdatedPage([])]
    result = reconciler.run(Channel.shopee)
    # Stored once (the same push twice is one delivery), confirmed after the store
    assert result["recovered"] == 1
    assert confirmed == ["7"]
    (entry,) = inbox.entries.values()
    assert (entry.topic, entry.dedupe_key) == ("code:3", "push:3:880011:L1:READY_TO_SHIP:1")


def test_a_page_the_channel_keeps_refusing_is_given_up_after_three_passes(
    reconciler: ChannelReconciler, api: FakeApi, cursors: FakeCursors
) -> None:
    since = (NOW - timedelta(hours=2)).isoformat()
    cursors.values["reconcile:tiktok"] = json.dumps({"since": since, "until": NOW.isoformat(), "page": "expired"})
    api.down.add(Channel.tiktok)
    for _ in range(3):
        with pytest.raises(DependencyError):
            reconciler.run(Channel.tiktok)
    assert json.loads(cursors.values["reconcile:tiktok"]) == {"next": since}


def test_each_shop_is_reconciled_from_its_own_cursor_and_one_down_does_not_stop_the_others(
    reconciler: ChannelReconciler, api: FakeApi, queue: FakeQueue, cursors: FakeCursors
) -> None:
    # Given the channel-level shop and two registered shops, the second one's API down
    api.reconciled_shops = lambda channel: [None, "880022", "880033"]  # type: ignore[method-assign]
    api.down.add((Channel.shopee, "880033"))
    api.pages = [UpdatedPage([UpdatedOrder("A", T0)]), UpdatedPage([UpdatedOrder("B", T0)])]
    result = reconciler.run(Channel.shopee)
    # Then each working shop's orders are queued with their shop, each shop has its own cursor
    assert [(r.channel_order_id, r.shop_id) for r in queue.sent] == [("A", None), ("B", "880022")]
    assert {"reconcile:shopee", "reconcile:shopee:880022"} <= set(cursors.values)
    assert "reconcile:shopee:880033" not in cursors.values
    assert (result["shops"], result["failed"], result["complete"]) == (3, 1, 0)
    # And when every shop is down the pass fails (alarmed), the cursors kept
    api.down.update({Channel.shopee})
    with pytest.raises(DependencyError, match="880022"):
        reconciler.run(Channel.shopee)


def test_a_tiktok_push_about_a_tokopedia_order_is_known_by_its_storefront(
    sync: ChannelSync, orders: FakeOrders, queue: FakeQueue
) -> None:
    # Given a Tokopedia order (fetched through TikTok Shop's API) stored at minute 5
    draft = as_draft({**document("T1", minutes=5), "channel": "tokopedia"})
    sync.capture.capture(draft, NOW)
    # When TikTok Shop's push names it with a change the OMS has (or has not) seen
    seen = ChannelNotice(Channel.tiktok, "T1", "order_status", "749", "READY_TO_SHIP", T0 + timedelta(minutes=5))
    later = ChannelNotice(Channel.tiktok, "T1", "order_status", "749", "SHIPPED", T0 + timedelta(minutes=9))
    # Then only the newer change is fetched
    assert sync.request([seen], None) == []
    assert [r.channel_order_id for r in sync.request([later], None)] == ["T1"]
