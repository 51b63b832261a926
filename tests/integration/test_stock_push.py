"""Channel stock push against moto: what is sent, when, and what happens when a channel fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oms import container
from oms.adapters.stock_push import DynamoPushStates
from oms.domain.stock_push import ALL_CHANNELS, PushState, StockPush, changed_skus, is_due
from oms.errors import DependencyError
from oms.models.inventory import (
    AdjustmentCreate,
    AvailabilityLevel,
    ChannelStockPolicy,
    ChannelStockUpdate,
    MovementKind,
    PushMode,
)
from oms.models.order import Channel

SKU = "KOP-GAYO-250"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class RecordingClient:
    def __init__(self, channels: list[Channel], failing: set[Channel] | None = None) -> None:
        self._channels = channels
        self.failing = failing or set()
        self.calls: list[tuple[Channel, list[ChannelStockUpdate]]] = []

    def channels(self) -> list[Channel]:
        return self._channels

    def finish_by(self, deadline: float) -> None:
        pass

    def push_stock(self, channel: Channel, updates: list[ChannelStockUpdate]) -> None:
        if channel in self.failing:
            raise DependencyError(f"{channel.value} stock API answered 503")
        self.calls.append((channel, list(updates)))

    def sent(self, channel: Channel) -> dict[str, int]:
        return {u.sku: u.atp for c, updates in self.calls if c is channel for u in updates}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=5)
        return self.now


CLOCK = Clock()  # one clock for every pusher, as the machines' clocks agree


def _pusher(client: RecordingClient, states: DynamoPushStates | None = None) -> StockPush:
    settings_table = container.inventory().store.ledger_table
    return StockPush(container.inventory(), states or DynamoPushStates(settings_table), client, CLOCK)


def _receive(units: int, ref: str) -> None:
    container.inventory().adjust(
        AdjustmentCreate(
            adjustment_id=ref, kind=MovementKind.receipt, node_id="DC-CKG", lines=[{"sku": SKU, "quantity": units}]
        ),
        NOW,
    )


def _channel_atp(channel: Channel) -> int:
    return container.inventory().availability([SKU], channel, with_nodes=False)[0].atp


def test_each_channel_is_sent_its_own_figure_once_per_change(stack) -> None:
    client = RecordingClient([Channel.shopee, Channel.lazada, Channel.web])
    pusher = _pusher(client)
    report = pusher.run([SKU])
    # web is seeded with push off; shopee and lazada get what their policies let them sell
    assert {channel for channel, _ in client.calls} == {Channel.shopee, Channel.lazada}
    assert client.sent(Channel.shopee)[SKU] == _channel_atp(Channel.shopee)
    assert client.sent(Channel.lazada)[SKU] == _channel_atp(Channel.lazada)
    assert report.sent == {"shopee": 1, "lazada": 1}

    client.calls.clear()
    assert pusher.run([SKU]).sent == {}  # nothing changed: nothing sent

    _receive(40, "push-receipt-1")
    pusher.run([SKU])
    assert client.sent(Channel.shopee)[SKU] == _channel_atp(Channel.shopee)
    assert client.sent(Channel.lazada)[SKU] == _channel_atp(Channel.lazada)


def test_a_failing_channel_does_not_hold_up_the_others_and_is_sent_later(stack) -> None:
    client = RecordingClient([Channel.shopee, Channel.tokopedia], failing={Channel.shopee})
    pusher = _pusher(client)
    report = pusher.run([SKU])
    assert report.failed == {Channel.shopee: {SKU}} and "503" in report.errors[Channel.shopee]
    assert client.sent(Channel.tokopedia)[SKU] == _channel_atp(Channel.tokopedia)

    client.failing.clear()
    client.calls.clear()
    report = pusher.run([SKU], only=Channel.shopee)  # the retry queue's run
    assert [channel for channel, _ in client.calls] == [Channel.shopee]
    assert client.sent(Channel.shopee)[SKU] == _channel_atp(Channel.shopee)
    client.calls.clear()
    assert pusher.run([SKU]).sent == {}  # both channels are now up to date


class Overtaker(DynamoPushStates):
    """Between our send and our record, a later read claims the SKU (and, if told so, sends and
    records the same figure we sent): ours may reach the channel after theirs."""

    def __init__(self, table: str, client: RecordingClient, records: bool) -> None:
        super().__init__(table)
        self.client = client
        self.records = records
        self.done = False

    def record_push(self, sku: str, claim: str, sent: list[ChannelStockUpdate], seen: PushState | None) -> bool:
        if not self.done:
            self.done = True
            read_at = datetime.fromisoformat(claim.split("#", maxsplit=1)[0].replace("Z", "+00:00"))
            later = read_at + timedelta(milliseconds=1)
            theirs = self.claim_push(sku, later, self.push_states([sku]).get(sku), ALL_CHANNELS)
            assert theirs.token is not None
            if self.records:
                self.client.push_stock(sent[0].channel, sent)
                assert super().record_push(sku, theirs.token, sent, seen)
        return super().record_push(sku, claim, sent, seen)


def test_a_push_overtaken_by_a_later_one_is_sent_again(stack) -> None:
    for overtaker_records in (False, True):
        container.reset()
        _receive(3, f"push-overtaken-{overtaker_records}")
        client = RecordingClient([Channel.shopee])
        states = Overtaker(container.inventory().store.ledger_table, client, overtaker_records)
        report = _pusher(client, states).run([SKU])
        assert states.done and report.overtaken == 1, report
        # ours was read and sent once more after the later push, even when it recorded the same figure
        ours = [c for c in client.calls if c[0] is Channel.shopee]
        assert len(ours) == (3 if overtaker_records else 2)
        assert client.calls[-1][1][0].atp == _channel_atp(Channel.shopee)


def test_claims_order_pushes_by_the_time_they_read(stack) -> None:
    states = DynamoPushStates(container.inventory().store.ledger_table)
    newer = states.claim_push(SKU, NOW + timedelta(seconds=1), None, ALL_CHANNELS)
    assert newer.token is not None
    older = states.claim_push(SKU, NOW, states.push_states([SKU])[SKU], ALL_CHANNELS)
    assert older.token is None and older.superseded  # a later read holds it: drop ours
    update = ChannelStockUpdate(channel=Channel.shopee, sku=SKU, atp=3, level=AvailabilityLevel.low, as_of=NOW)
    assert states.record_push(SKU, newer.token, [update], None)
    assert states.push_states([SKU])[SKU].sent == {Channel.shopee: (3, "low")}
    assert not states.record_push(SKU, "1999-01-01T00:00:00.000Z#0#*", [update], None)

    # A claim made on a state that was recorded over since is refused, but not as superseded: read again
    stale = states.claim_push(SKU, NOW + timedelta(seconds=5), None, ALL_CHANNELS)
    assert stale.token is None and not stale.superseded
    seen = states.push_states([SKU])[SKU]
    later = states.claim_push(SKU, NOW + timedelta(seconds=5), seen, ALL_CHANNELS)
    lazada = update.model_copy(update={"channel": Channel.lazada, "atp": 9, "level": AvailabilityLevel.in_stock})
    assert later.token is not None and states.record_push(SKU, later.token, [lazada], seen)
    assert states.push_states([SKU])[SKU].sent == {Channel.shopee: (3, "low"), Channel.lazada: (9, "in_stock")}

    # One channel's retry, even a later one, does not cover a push for every channel
    narrow = states.claim_push(SKU, NOW + timedelta(seconds=9), states.push_states([SKU])[SKU], "lazada")
    assert narrow.token is not None
    wide = states.claim_push(SKU, NOW + timedelta(seconds=8), states.push_states([SKU])[SKU], ALL_CHANNELS)
    assert wide.token is None and not wide.superseded


def test_level_mode_sends_only_a_change_of_level(stack) -> None:
    update = ChannelStockUpdate(channel=Channel.shopify, sku=SKU, atp=40, level=AvailabilityLevel.in_stock, as_of=NOW)
    assert is_due(None, update, PushMode.level)
    assert not is_due((35, "in_stock"), update, PushMode.level)
    assert is_due((3, "low"), update, PushMode.level)
    assert is_due((35, "in_stock"), update, PushMode.quantity)
    assert not is_due((40, "in_stock"), update, PushMode.quantity)
    assert not is_due(None, update, PushMode.off)

    reference = container.reference_data()
    policy = reference.policy(Channel.shopify)
    reference.put_policy(ChannelStockPolicy(**{**policy.model_dump(), "push": PushMode.level, "channel": "shopify"}))
    container.reset()
    client = RecordingClient([Channel.shopify])
    pusher = _pusher(client)
    pusher.run([SKU])
    assert len(client.calls) == 1
    _receive(1, "push-receipt-2")  # one more unit: still in stock
    pusher.run([SKU])
    assert len(client.calls) == 1


def test_changed_skus_come_from_stock_items_whose_atp_moved() -> None:
    item = {"pk": f"SKU#{SKU}", "sk": "NODE#DC-CKG", "sku": SKU, "atp": 5}
    records = [
        (item, {**item, "atp": 4}),  # moved
        ({**item, "sku": "B"}, {**item, "sku": "B", "updated_at": "x"}),  # atp unchanged
        (None, {**item, "sku": "C"}),  # new item
        ({"pk": "RES#1", "sk": "X", "sku": "D", "atp": 1}, None),  # not a stock item
    ]
    assert changed_skus(records) == {SKU, "C"}
