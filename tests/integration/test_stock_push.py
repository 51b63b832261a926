"""Channel stock push against moto: what is sent to which shop, when, and what happens when one fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from oms import container
from oms.adapters.marketplace_api import MarketplaceApi
from oms.adapters.stock_push import DynamoPushStates
from oms.domain.channel_sync import ShopNotConnected
from oms.domain.stock_push import (
    ALL_CHANNELS,
    PushState,
    StockPush,
    StockTarget,
    changed_skus,
    channel_scope,
    covers,
    is_due,
    target_key,
)
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
from oms.models.shops import Shop
from oms_local.channel_sim import ChannelSimulator
from oms_local.seed import SECRET_PARAMETERS, local_settings, shops
from tests.fakes import FakeContext, FakeSecrets
from tests.support import load_handler

SKU = "KOP-GAYO-250"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class RecordingClient:
    """The channel-client port: each channel's one channel-level shop unless `targets` names its shops."""

    def __init__(
        self,
        channels: list[Channel],
        failing: set[str] | None = None,
        targets: dict[Channel, list[StockTarget]] | None = None,
    ) -> None:
        self._channels = channels
        self.failing = failing or set()  # target keys whose calls fail
        self.disconnected: set[str] = set()  # target keys whose shop cannot be called
        self.targets = targets or {}
        self.calls: list[tuple[str, list[ChannelStockUpdate]]] = []

    def channels(self) -> list[Channel]:
        return self._channels

    def stock_targets(self, channel: Channel) -> list[StockTarget]:
        return self.targets.get(channel, [StockTarget(channel)])

    def finish_by(self, deadline: float) -> None:
        pass

    def push_stock(self, channel: Channel, updates: list[ChannelStockUpdate], shop_id: str | None = None) -> None:
        key = target_key(channel, shop_id)
        if key in self.disconnected:
            raise ShopNotConnected(f"{key} is not connected")
        if key in self.failing:
            raise DependencyError(f"{key} stock API answered 503")
        self.calls.append((key, list(updates)))

    def sent(self, key: Channel | str) -> dict[str, int]:
        return {u.sku: u.atp for k, updates in self.calls if k == key for u in updates}


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
    assert {key for key, _ in client.calls} == {"shopee", "lazada"}
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
    client = RecordingClient([Channel.shopee, Channel.tokopedia], failing={"shopee"})
    pusher = _pusher(client)
    report = pusher.run([SKU])
    assert report.failed == {"shopee": {SKU}} and "503" in report.errors["shopee"]
    assert client.sent(Channel.tokopedia)[SKU] == _channel_atp(Channel.tokopedia)

    client.failing.clear()
    client.calls.clear()
    report = pusher.run([SKU], only=Channel.shopee, target="shopee")  # the retry queue's run
    assert [key for key, _ in client.calls] == ["shopee"]
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

    def record_push(self, sku: str, claim: str, sent: dict[str, ChannelStockUpdate], seen: PushState | None) -> bool:
        if not self.done:
            self.done = True
            read_at = datetime.fromisoformat(claim.split("#", maxsplit=1)[0].replace("Z", "+00:00"))
            later = read_at + timedelta(milliseconds=1)
            theirs = self.claim_push(sku, later, self.push_states([sku]).get(sku), ALL_CHANNELS)
            assert theirs.token is not None
            if self.records:
                for update in sent.values():
                    self.client.push_stock(update.channel, [update])
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
        ours = [c for c in client.calls if c[0] == "shopee"]
        assert len(ours) == (3 if overtaker_records else 2)
        assert client.calls[-1][1][0].atp == _channel_atp(Channel.shopee)


def test_claims_order_pushes_by_the_time_they_read(stack) -> None:
    states = DynamoPushStates(container.inventory().store.ledger_table)
    newer = states.claim_push(SKU, NOW + timedelta(seconds=1), None, ALL_CHANNELS)
    assert newer.token is not None
    older = states.claim_push(SKU, NOW, states.push_states([SKU])[SKU], ALL_CHANNELS)
    assert older.token is None and older.superseded  # a later read holds it: drop ours
    update = ChannelStockUpdate(channel=Channel.shopee, sku=SKU, atp=3, level=AvailabilityLevel.low, as_of=NOW)
    assert states.record_push(SKU, newer.token, {"shopee": update}, None)
    assert states.push_states([SKU])[SKU].sent == {"shopee": (3, "low")}
    assert not states.record_push(SKU, "1999-01-01T00:00:00.000Z#0#*", {"shopee": update}, None)

    # A claim made on a state that was recorded over since is refused, but not as superseded: read again
    stale = states.claim_push(SKU, NOW + timedelta(seconds=5), None, ALL_CHANNELS)
    assert stale.token is None and not stale.superseded
    seen = states.push_states([SKU])[SKU]
    later = states.claim_push(SKU, NOW + timedelta(seconds=5), seen, ALL_CHANNELS)
    lazada = update.model_copy(update={"channel": Channel.lazada, "atp": 9, "level": AvailabilityLevel.in_stock})
    outlet = update.model_copy(update={"atp": 7, "level": AvailabilityLevel.in_stock})
    assert later.token is not None and states.record_push(
        SKU, later.token, {"lazada": lazada, "shopee#880022": outlet}, seen
    )
    assert states.push_states([SKU])[SKU].sent == {
        "shopee": (3, "low"),
        "lazada": (9, "in_stock"),
        "shopee#880022": (7, "in_stock"),
    }

    # One target's retry, even a later one, does not cover a push for every target
    narrow = states.claim_push(SKU, NOW + timedelta(seconds=9), states.push_states([SKU])[SKU], "lazada")
    assert narrow.token is not None
    wide = states.claim_push(SKU, NOW + timedelta(seconds=8), states.push_states([SKU])[SKU], ALL_CHANNELS)
    assert wide.token is None and not wide.superseded

    # A later push of one channel's shops covers one of its shops' retries, not another channel's
    shopee = states.claim_push(
        SKU, NOW + timedelta(seconds=11), states.push_states([SKU])[SKU], channel_scope(Channel.shopee)
    )
    assert shopee.token is not None
    shop = states.claim_push(SKU, NOW + timedelta(seconds=10), states.push_states([SKU])[SKU], "shopee#880022")
    assert shop.token is None and shop.superseded
    other = states.claim_push(SKU, NOW + timedelta(seconds=10), states.push_states([SKU])[SKU], "lazada")
    assert other.token is None and not other.superseded


def test_scopes_cover_what_they_push() -> None:
    shopee = channel_scope(Channel.shopee)
    assert covers(ALL_CHANNELS, shopee) and covers(ALL_CHANNELS, "shopee#880022") and covers(ALL_CHANNELS, "lazada")
    assert covers(shopee, "shopee") and covers(shopee, "shopee#880022") and covers(shopee, shopee)
    assert not covers(shopee, ALL_CHANNELS) and not covers(shopee, "lazada") and not covers(shopee, "tiktok#1")
    assert covers("shopee#880022", "shopee#880022")
    assert not covers("shopee#880022", "shopee#880011") and not covers("shopee", "shopee#880022")
    assert not covers("shopee", shopee) and not covers("shopee#880022", ALL_CHANNELS)
    assert target_key(Channel.shopee) == "shopee" and target_key(Channel.shopee, "880022") == "shopee#880022"


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


# --- several shops per marketplace ---------------------------------------------------------------------


def _node_atp(node_id: str) -> int:
    position = container.inventory().positions([SKU], consistent=True).get((SKU, node_id))
    return position.atp if position else 0


SHOPEE_BUFFER = 3  # the seeded shopee policy: DCs only, 3 units held back


def test_each_shop_is_told_its_own_figure_and_one_that_cannot_be_called_holds_up_no_other(stack) -> None:
    _receive(40, "push-shops-1")  # DC-CKG now holds more than DC-SBY: the two bindings differ
    shops = [
        StockTarget(Channel.shopee, "880011", nodes=("DC-CKG",)),
        StockTarget(Channel.shopee, "880022", nodes=("DC-SBY",)),
        StockTarget(Channel.shopee, "880033"),  # no binding: the channel policy's nodes
        StockTarget(Channel.shopee, "880044", off="shop Grosir is disabled"),
        StockTarget(Channel.shopee, "880055", off="shop Reseller's stock push is off"),
        StockTarget(Channel.shopee, "880066"),  # its token is gone
        StockTarget(Channel.shopee, "880077"),  # its API is down
    ]
    client = RecordingClient([Channel.shopee, Channel.lazada], targets={Channel.shopee: shops})
    client.disconnected.add("shopee#880066")
    client.failing.add("shopee#880077")
    report = _pusher(client).run([SKU])

    ckg, sby = _node_atp("DC-CKG"), _node_atp("DC-SBY")
    assert client.sent("shopee#880011")[SKU] == max(0, ckg - SHOPEE_BUFFER)
    assert client.sent("shopee#880022")[SKU] == max(0, sby - SHOPEE_BUFFER)
    assert client.sent("shopee#880011")[SKU] != client.sent("shopee#880022")[SKU]
    assert client.sent("shopee#880033")[SKU] == _channel_atp(Channel.shopee) == max(0, ckg + sby - SHOPEE_BUFFER)
    assert client.sent("lazada")[SKU] == _channel_atp(Channel.lazada)
    assert report.idle == {
        "shopee#880044": "shop Grosir is disabled",
        "shopee#880055": "shop Reseller's stock push is off",
    }
    assert report.failed == {"shopee#880066": {SKU}, "shopee#880077": {SKU}}
    assert "not connected" in report.errors["shopee#880066"] and "503" in report.errors["shopee#880077"]
    assert report.sent == {"shopee#880011": 1, "shopee#880022": 1, "shopee#880033": 1, "lazada": 1}
    states = DynamoPushStates(container.inventory().store.ledger_table).push_states([SKU])[SKU]
    assert set(states.sent) == {"shopee#880011", "shopee#880022", "shopee#880033", "lazada"}

    # The retry queue's run for one shop calls that shop only; the others were told already
    client.failing.clear()
    client.calls.clear()
    report = _pusher(client).run([SKU], only=Channel.shopee, target="shopee#880077")
    assert [key for key, _ in client.calls] == ["shopee#880077"] and report.failed == {}
    assert client.sent("shopee#880077")[SKU] == _channel_atp(Channel.shopee)

    # A node binding changed: push-all --channel shopee sends the shop its new figure, nothing else
    shops[1] = StockTarget(Channel.shopee, "880022", nodes=("DC-CKG", "DC-SBY"))
    client.disconnected.clear()
    client.calls.clear()
    report = _pusher(client).run([SKU], only=Channel.shopee)
    assert report.sent == {"shopee#880022": 1, "shopee#880066": 1}
    assert client.sent("shopee#880022")[SKU] == _channel_atp(Channel.shopee)


def test_a_retry_for_a_shop_no_longer_a_target_goes_to_its_channels_shops(stack) -> None:
    # The channel-level shop failed, then was registered: its retry names the key "shopee", gone since
    shops = [StockTarget(Channel.shopee, "880011"), StockTarget(Channel.shopee, "880022")]
    client = RecordingClient([Channel.shopee, Channel.lazada], targets={Channel.shopee: shops})
    report = _pusher(client).run([SKU], only=Channel.shopee, target="shopee")
    assert sorted(key for key, _ in client.calls) == ["shopee#880011", "shopee#880022"]
    assert report.failed == {}


def test_two_shopee_shops_bound_to_different_nodes_each_show_their_own_figure(stack) -> None:
    """Through the OMS's Shopee client against the simulator: each shop's own credentials, its own item ids."""
    settings = local_settings({})
    secrets = {parameter: settings[name] for name, parameter in SECRET_PARAMETERS.items() if name in settings}
    official, outlet = (shop for shop in shops(settings) if shop["channel"] == "shopee")
    for demo in (official, outlet):
        for name in ("access_token", "refresh_token"):
            secrets[f"shopee/shops/{demo['shop_id']}/{name}"] = demo[name]

    def shop(demo: dict, nodes: list[str] | None, **settings: object) -> Shop:
        return Shop(channel="shopee", shop_id=demo["shop_id"], name=demo["name"], nodes=nodes,
                    created_at=NOW, updated_at=NOW, **settings)  # fmt: skip

    registered = [
        shop(official, ["DC-CKG"]),
        shop(outlet, ["DC-SBY"]),
        shop({"shop_id": "880099", "name": "Grosir"}, None),  # registered, but the OMS holds no token for it
        shop({"shop_id": "880098", "name": "Reseller"}, None, stock_push=False),
    ]
    _receive(40, "push-sim-shops-1")
    simulator = ChannelSimulator(settings=settings).start()
    try:
        api = MarketplaceApi(
            {Channel.shopee: simulator.base_url("shopee")}, FakeSecrets(secrets), shops=lambda: registered
        )
        assert [t.key for t in api.stock_targets(Channel.shopee)] == [  # the channel-level shop is the official one
            "shopee#880011", "shopee#880022", "shopee#880098", "shopee#880099"
        ]  # fmt: skip
        report = _pusher(api).run([SKU])  # type: ignore[arg-type]
        shown = simulator.marketplaces.shown_by_shop
        ckg, sby = _node_atp("DC-CKG"), _node_atp("DC-SBY")
        assert shown[("shopee", official["shop_id"])][SKU]["atp"] == max(0, ckg - SHOPEE_BUFFER)
        assert shown[("shopee", outlet["shop_id"])][SKU]["atp"] == max(0, sby - SHOPEE_BUFFER)
        assert ckg - SHOPEE_BUFFER != sby - SHOPEE_BUFFER
        assert set(shown) == {("shopee", official["shop_id"]), ("shopee", outlet["shop_id"])}
        assert report.sent == {f"shopee#{official['shop_id']}": 1, f"shopee#{outlet['shop_id']}": 1}
        assert report.failed == {"shopee#880099": {SKU}} and "access_token" in report.errors["shopee#880099"]
        assert report.idle == {"shopee#880098": "shop Reseller's stock push is off"}
    finally:
        simulator.stop()


def test_the_push_function_queues_each_failed_shop_and_retries_it_alone(stack, monkeypatch) -> None:
    queue_url = stack.template.functions()["ChannelStockPushFunction"].environment["STOCK_PUSH_RETRY_QUEUE_URL"]
    monkeypatch.setenv("STOCK_PUSH_RETRY_QUEUE_URL", queue_url)
    shops = [StockTarget(Channel.shopee, "880011"), StockTarget(Channel.shopee, "880022")]
    client = RecordingClient(
        [Channel.shopee, Channel.lazada], failing={"shopee#880022"}, targets={Channel.shopee: shops}
    )
    pusher = _pusher(client)
    handler = load_handler("functions/stock_sync/push.py")
    monkeypatch.setattr(handler, "stock_push", lambda: pusher)

    item = {"pk": f"SKU#{SKU}", "sk": "NODE#DC-CKG", "sku": SKU}
    image = {name: {"S": value} for name, value in item.items()}
    record = {
        "eventSource": "aws:dynamodb",
        "dynamodb": {"OldImage": {**image, "atp": {"N": "1"}}, "NewImage": {**image, "atp": {"N": "2"}}},
    }
    handler.lambda_handler({"Records": [record]}, FakeContext())
    assert sorted(key for key, _ in client.calls) == ["lazada", "shopee#880011"]
    queued = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in queued]
    assert [(b["channel"], b["target"], b["skus"]) for b in bodies] == [("shopee", "shopee#880022", [SKU])]

    def retry(body: dict) -> dict:
        message = {"messageId": "m1", "receiptHandle": "m1", "body": json.dumps(body), "attributes": {},
                   "messageAttributes": {}, "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stock-push-retry"}  # fmt: skip
        return handler.lambda_handler({"Records": [message]}, FakeContext())

    # Still down: the message fails (SQS retries it, then the DLQ keeps it); the other shops are not called
    client.calls.clear()
    with pytest.raises(BatchProcessingError, match="shopee#880022"):  # every record of the batch failed
        retry(bodies[0])
    assert client.calls == []
    # Back up: that shop is told
    client.failing.clear()
    assert retry(bodies[0])["batchItemFailures"] == []
    assert [key for key, _ in client.calls] == ["shopee#880022"]
    # A message queued before shops names no target: every shop of its channel gets what it was not told
    _receive(5, "push-handler-1")
    client.calls.clear()
    assert (
        retry({"channel": "shopee", "skus": [SKU], "error": "shopee stock API answered 503"})["batchItemFailures"] == []
    )
    assert sorted(key for key, _ in client.calls) == ["shopee#880011", "shopee#880022"]
