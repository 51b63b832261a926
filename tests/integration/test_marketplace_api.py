"""The marketplace clients against the channel simulator: each channel's request signing (computed
independently on both sides), its order documents, lists and errors. No AWS: secrets are faked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oms.adapters.marketplace_api import MarketplaceApi
from oms.channels import shopee, tiktok
from oms.errors import DependencyError
from oms.models.order import Channel
from oms_local.channel_sim import ChannelSimulator
from oms_local.seed import SECRET_PARAMETERS, local_settings
from tests.fakes import FakeSecrets

SETTINGS = local_settings({})
ALL_CHANNELS = [Channel.shopee, Channel.lazada, Channel.tiktok, Channel.tokopedia]
LINES = [
    {"sku": "BTK-PRG-L", "quantity": 2, "unit_price": 450000},
    {"sku": "TEH-TUBRUK-100", "quantity": 3, "unit_price": 25000},
]


def secrets(**overrides: str) -> FakeSecrets:
    values = {parameter: SETTINGS[name] for name, parameter in SECRET_PARAMETERS.items() if name in SETTINGS}
    return FakeSecrets({**values, **overrides})


@pytest.fixture(scope="module")
def sim() -> Iterator[ChannelSimulator]:
    simulator = ChannelSimulator(settings=SETTINGS).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def api(sim: ChannelSimulator) -> MarketplaceApi:
    bases = {channel: sim.base_url(channel.value) for channel in (Channel.shopee, Channel.lazada, Channel.tiktok)}
    return MarketplaceApi(bases, secrets())


def test_a_tokopedia_order_comes_through_tiktok_shops_api(sim: ChannelSimulator, api: MarketplaceApi) -> None:
    # Given a Tokopedia storefront order and a TikTok Shop order in the same TikTok shop
    tokopedia = sim.marketplaces.create({"channel": "tokopedia", "lines": LINES})
    own = sim.marketplaces.create({"channel": "tiktok", "lines": LINES})
    # When both are fetched through TikTok Shop's API (the one client: Tokopedia has none of its own)
    assert api.client(Channel.tokopedia) is api.client(Channel.tiktok)
    assert api.channels() == [Channel.lazada, Channel.shopee, Channel.tiktok]
    found = api.get_orders(Channel.tiktok, None, [tokopedia.order_id, own.order_id])
    # Then each is normalized as the storefront its `platform` names
    assert found[tokopedia.order_id]["platform"] == "TOKOPEDIA"
    assert tiktok.normalize(found[tokopedia.order_id]).channel is Channel.tokopedia
    assert tiktok.normalize(found[own.order_id]).channel is Channel.tiktok
    # And Tokopedia's stock is the TikTok shop's: never pushed on its own
    from oms.models.inventory import AvailabilityLevel, ChannelStockUpdate

    update = ChannelStockUpdate(channel=Channel.tokopedia, sku="BTK-PRG-L", atp=3, level=AvailabilityLevel.in_stock,
                                as_of=datetime.now(UTC))  # fmt: skip
    assert "pushed as tiktok" in api.push_stock(Channel.tokopedia, [update]).skipped["BTK-PRG-L"]


@pytest.mark.parametrize(("channel", "module"), [(Channel.shopee, shopee), (Channel.tiktok, tiktok)])
def test_an_order_is_fetched_signed_and_normalized(sim: ChannelSimulator, api: MarketplaceApi, channel, module) -> None:
    # Given two orders at the simulated channel
    first = sim.marketplaces.create({"channel": channel.value, "lines": LINES})
    second = sim.marketplaces.create({"channel": channel.value, "lines": LINES[:1]})
    # When both and an unknown id are fetched
    found = api.get_orders(channel, None, [first.order_id, second.order_id, "NOPE123"])
    # Then the two come back in one call, in the channel's format, and normalize to the right lines
    assert set(found) == {first.order_id, second.order_id}
    draft = module.normalize(found[first.order_id])
    assert sorted((line.sku, line.quantity, int(line.unit_price)) for line in draft.lines) == [
        ("BTK-PRG-L", 2, 450000),
        ("TEH-TUBRUK-100", 3, 25000),
    ]
    assert draft.shipping_address is not None and draft.shipping_address.postal_code == "10220"


@pytest.mark.parametrize("channel", [Channel.shopee, Channel.tiktok])
def test_a_wrong_secret_is_the_channels_signature_error(sim: ChannelSimulator, channel: Channel) -> None:
    name = "partner_key" if channel is Channel.shopee else "app_secret"
    wrong = MarketplaceApi({channel: sim.base_url(channel.value)}, secrets(**{f"{channel.value}/{name}": "wrong"}))
    order = sim.marketplaces.create({"channel": channel.value, "lines": LINES})
    with pytest.raises(DependencyError):
        wrong.get_orders(channel, None, [order.order_id])


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_orders_updated_in_a_window_are_listed_page_by_page(
    sim: ChannelSimulator, api: MarketplaceApi, channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oms.adapters.marketplace_api import lazada

    monkeypatch.setattr(lazada, "PAGE", 2)  # Lazada pages by time: three orders take two pages
    sim.clear()
    made = {sim.marketplaces.create({"channel": channel.value, "lines": LINES}).order_id for _ in range(3)}
    now = datetime.now(UTC)
    listed, cursor, pages = [], None, 0
    client = api.client(channel)
    while True:
        page = api.updated_orders(channel, now - timedelta(minutes=5), now + timedelta(minutes=1), cursor)
        listed += [item.channel_order_id for item in page.orders]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert set(listed) == made
    assert client.http.calls >= pages
    if channel is Channel.lazada:
        assert pages >= 2  # by time: the next page starts at the last second seen (repeats are skipped later)


def test_server_errors_are_retried_then_reported(sim: ChannelSimulator, api: MarketplaceApi) -> None:
    order = sim.marketplaces.create({"channel": "shopee", "lines": LINES})
    sim.fail_next("shopee", 503, times=1)
    assert set(api.get_orders(Channel.shopee, None, [order.order_id])) == {order.order_id}
    sim.fail_next("shopee", 429, times=3)
    with pytest.raises(DependencyError, match="429"):
        api.get_orders(Channel.shopee, None, [order.order_id])


# --- outbound: what the OMS tells each channel, in the channel's own calls -------------------------

ALL = [Channel.shopee, Channel.lazada, Channel.tiktok, Channel.tokopedia]
API = [Channel.shopee, Channel.lazada, Channel.tiktok]  # Tokopedia's stock is its TikTok shop's
# Tokopedia's storefront runs on TikTok Shop's API: its orders speak TikTok Shop's statuses.
SHIPPED = {"shopee": "SHIPPED", "lazada": "ready_to_ship", "tiktok": "IN_TRANSIT", "tokopedia": "IN_TRANSIT"}
CANCELLED = {"shopee": "CANCELLED", "lazada": "canceled", "tiktok": "CANCELLED", "tokopedia": "CANCELLED"}


def call(channel: Channel, order_id: str, kind: str) -> Any:
    from oms.domain.write_back import ChannelCall

    body = {"carrier": "jne", "tracking_number": "JNE0012345678", "lines": [{"sku": "BTK-PRG-L", "quantity": 2}]}
    return ChannelCall(channel, order_id, kind, body if kind == "shipped" else {"by": "seller"}, "evt-1")


@pytest.mark.parametrize("channel", ALL)
def test_a_shipment_reaches_the_channel_with_its_tracking_number(
    sim: ChannelSimulator, api: MarketplaceApi, channel
) -> None:
    sim.marketplaces.push_after_outbound = False
    order = sim.marketplaces.create({"channel": channel.value, "lines": LINES})
    api.write_back(call(channel, order.order_id, "shipped"))
    shown = sim.marketplaces.get(channel.value, order.order_id)
    if channel is Channel.lazada:  # per unit: the parcel's two BTK-PRG-L units, not the tea
        from oms_local.sim_formats import lazada as docs

        rows = {(r["sku"], r["status"], r["tracking_code"]) for r in docs.items_response(shown)["data"]}
        assert rows == {("BTK-PRG-L", "ready_to_ship", "JNE0012345678"), ("TEH-TUBRUK-100", "pending", "")}
    else:
        assert (shown.status, shown.tracking_number) == (SHIPPED[channel.value], "JNE0012345678")
    calls = len(sim.calls_for(channel.value))
    # A replay of the same event sends nothing more than the look at the order
    api.write_back(call(channel, order.order_id, "shipped"))
    again = [c["path"] for c in sim.calls_for(channel.value)[calls:]]
    assert not any(p.endswith(("/ship_order", "/rts", "/ship", "/status")) for p in again), again


@pytest.mark.parametrize("channel", ALL)
def test_a_cancellation_reaches_the_channel(sim: ChannelSimulator, api: MarketplaceApi, channel) -> None:
    sim.marketplaces.push_after_outbound = False
    order = sim.marketplaces.create({"channel": channel.value, "lines": LINES})
    api.write_back(call(channel, order.order_id, "cancelled"))
    assert sim.marketplaces.get(channel.value, order.order_id).status == CANCELLED[channel.value]


@pytest.mark.parametrize("channel", API)
def test_stock_reaches_the_channel_by_its_own_product_ids(sim: ChannelSimulator, api: MarketplaceApi, channel) -> None:
    from oms.models.inventory import AvailabilityLevel, ChannelStockUpdate

    now = datetime.now(UTC)
    updates = [
        ChannelStockUpdate(channel=channel, sku=sku, atp=atp, level=AvailabilityLevel.in_stock, as_of=now)
        for sku, atp in (("BTK-PRG-L", 17), ("TEH-TUBRUK-100", 0), ("NOT-LISTED-1", 5))
    ]
    outcome = api.push_stock(channel, updates)
    shown = sim.shown(channel.value)
    assert shown["BTK-PRG-L"]["atp"] == 17
    assert shown["TEH-TUBRUK-100"]["atp"] == 0
    if channel in (Channel.shopee, Channel.tiktok):  # named by the shop's own ids: an unlisted SKU is skipped
        assert list(outcome.skipped) == ["NOT-LISTED-1"]


@pytest.mark.parametrize("channel", [Channel.shopee, Channel.lazada, Channel.tiktok])
def test_a_shop_token_is_renewed_and_the_new_one_is_used(sim: ChannelSimulator, channel: Channel) -> None:
    from oms.domain.channel_tokens import TokenKeeper

    class Store(FakeSecrets):
        def put(self, channel: str, name: str, value: str) -> None:
            self.secrets[f"{channel}/{name}"] = value

    store = Store(secrets().secrets)
    api = MarketplaceApi({channel: sim.base_url(channel.value)}, store)
    # When the hourly job finds no expiry on record, it renews
    assert TokenKeeper(api, store, lambda: datetime.now(UTC)).run([channel]) == {channel.value: "renewed"}
    renewed = store.secrets[f"{channel.value}/access_token"]
    assert renewed != SETTINGS[f"OMS_{channel.value.upper()}_ACCESS_TOKEN"]
    # And the renewed token works, the old one no longer taken
    old = SETTINGS[f"OMS_{channel.value.upper()}_ACCESS_TOKEN"]
    sim.marketplaces.access_tokens[channel.value].discard(old)
    try:
        order = sim.marketplaces.create({"channel": channel.value, "lines": LINES})
        assert order.order_id in api.get_orders(channel, None, [order.order_id])
    finally:
        sim.marketplaces.access_tokens[channel.value].add(old)  # the other tests use the configured one
    # An hour later it is still fresh
    assert TokenKeeper(api, store, lambda: datetime.now(UTC)).run([channel]) == {channel.value: "fresh"}


@pytest.mark.parametrize("accept", [True, False])
@pytest.mark.parametrize("channel", [Channel.shopee, Channel.tiktok])
def test_a_buyers_cancel_request_is_answered_at_the_channel(
    sim: ChannelSimulator, api: MarketplaceApi, channel: Channel, accept: bool
) -> None:
    from oms.domain.write_back import ChannelCall

    sim.marketplaces.push_after_outbound = False
    order = sim.marketplaces.create({"channel": channel.value, "lines": LINES})
    asked = {"status": "IN_CANCEL"} if channel is Channel.shopee else {"extra": {"is_buyer_request_cancel": True}}
    sim.marketplaces.change(channel.value, order.order_id, asked)
    answer = ChannelCall(channel, order.order_id, "cancel_request", {"accept": accept}, "evt-3")
    api.write_back(answer)
    shown = sim.marketplaces.get(channel.value, order.order_id)
    assert (shown.status == "CANCELLED") is accept
    assert not shown.extra.get("is_buyer_request_cancel")
    # A replay finds the request answered: nothing more is sent, nothing fails
    api.write_back(answer)


def test_lazada_units_of_one_sku_in_two_parcels_each_get_their_own_tracking_number(
    sim: ChannelSimulator, api: MarketplaceApi
) -> None:
    from oms.domain.write_back import ChannelCall
    from oms_local.sim_formats import lazada as docs

    sim.marketplaces.push_after_outbound = False
    order = sim.marketplaces.create(
        {"channel": "lazada", "lines": [{"sku": "BTK-PRG-L", "quantity": 2, "unit_price": 450000}]}
    )

    def parcel(tracking: str) -> ChannelCall:
        body = {"carrier": "jne", "tracking_number": tracking, "lines": [{"sku": "BTK-PRG-L", "quantity": 1}]}
        return ChannelCall(Channel.lazada, order.order_id, "shipped", body, tracking)

    api.write_back(parcel("AWB-1"))
    api.write_back(parcel("AWB-1"))  # the first parcel's event again
    api.write_back(parcel("AWB-2"))
    rows = docs.items_response(sim.marketplaces.get("lazada", order.order_id))["data"]
    assert sorted((r["status"], r["tracking_code"]) for r in rows) == [
        ("ready_to_ship", "AWB-1"),
        ("ready_to_ship", "AWB-2"),
    ]


def test_a_sku_the_channel_refuses_does_not_stop_the_others(sim: ChannelSimulator, api: MarketplaceApi) -> None:
    from oms.models.inventory import AvailabilityLevel, ChannelStockUpdate

    now = datetime.now(UTC)
    updates = [
        ChannelStockUpdate(channel=Channel.shopee, sku=sku, atp=n, level=AvailabilityLevel.in_stock, as_of=now)
        for sku, n in (("BTK-PRG-L", 9), ("KOP-GAYO-250", 4), ("GHOST-1", 1))
    ]
    outcome = api.push_stock(Channel.shopee, updates)
    # A simple item (no variations) gets its stock on the item; the unlisted SKU is skipped with the reason
    assert sim.shown("shopee")["KOP-GAYO-250"]["atp"] == 4
    assert sim.shown("shopee")["BTK-PRG-L"]["atp"] == 9
    assert list(outcome.skipped) == ["GHOST-1"] and outcome.failed == {}
