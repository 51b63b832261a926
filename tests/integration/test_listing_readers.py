"""The channels' listing readers against the simulator (each channel's documented product calls, signed),
through the listing map; and the stock push's outbounds using the map instead of searching the channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from oms.adapters.marketplace_api import MarketplaceApi
from oms.adapters.marketplace_api.lazada_listings import LazadaListings
from oms.adapters.marketplace_api.shopee_listings import ShopeeListings
from oms.adapters.marketplace_api.tiktok_listings import TiktokListings
from oms.domain.listings import ListingMap
from oms.models.common import Channel
from oms.models.inventory import AvailabilityLevel, ChannelStockUpdate
from oms.models.listings import ExceptionKind, ListingStatus
from oms_local import listing_sim
from oms_local.channel_sim import ChannelSimulator
from oms_local.seed import SECRET_PARAMETERS, SKUS, local_settings
from tests.fakes import FakeCatalog, FakeCursors, FakeSecrets
from tests.fakes.listings import FakeListingStore

SETTINGS = local_settings({})
CATALOG = {sku for sku, *_ in SKUS}
READERS = {Channel.shopee: ShopeeListings, Channel.tiktok: TiktokListings, Channel.lazada: LazadaListings}


@pytest.fixture(scope="module")
def sim() -> Iterator[ChannelSimulator]:
    simulator = ChannelSimulator(settings=SETTINGS).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def fresh_listings(sim: ChannelSimulator) -> None:
    listing_sim.reset(sim.marketplaces)


@pytest.fixture
def api(sim: ChannelSimulator) -> MarketplaceApi:
    values = {parameter: SETTINGS[name] for name, parameter in SECRET_PARAMETERS.items() if name in SETTINGS}
    bases = {channel: sim.base_url(channel.value) for channel in READERS}
    return MarketplaceApi(bases, FakeSecrets(values))


@pytest.fixture
def service(api: MarketplaceApi) -> ListingMap:
    cursors = FakeCursors()
    return ListingMap(FakeListingStore(cursors), cursors, FakeCatalog(set(CATALOG)),
                      lambda channel, shop_id: READERS[channel](api.client(channel, shop_id)),
                      lambda: datetime.now(UTC))  # fmt: skip


def test_shopee_first_pass_maps_the_catalogue_and_finds_the_demo_exceptions(sim, api, service) -> None:
    # When the default Shopee shop (the demo's first) is read the first time
    report = service.refresh(Channel.shopee, None)
    rows = service.store.rows(Channel.shopee, "default")
    # Then every catalogue SKU is mapped to its item (and model, for variations), as Shopee numbers them
    assert {row.sku for row in rows if row.sku} == CATALOG
    shop = sim.marketplaces.shops["shopee"][0]
    for row in rows:  # the ids Shopee's stock call takes for that SKU: a model for a variation, else model 0
        assert listing_sim.shopee_stock_target(sim.marketplaces, shop, row.item_id) == {
            int(row.variant_id): row.seller_sku
        }
        assert (row.variant_id != "0") == ("-" in row.seller_sku)
    # And the demo's duplicate SKU and unknown seller SKU are the exceptions
    assert report.duplicates == 1 and report.unmapped == 1
    unmapped = service.exceptions(ExceptionKind.unmapped, Channel.shopee, "default")
    assert [e.seller_sku for e in unmapped] == [listing_sim.UNKNOWN_SKU]
    duplicate = service.exceptions(ExceptionKind.duplicate, Channel.shopee, "default")[0]
    assert len(duplicate.listings) == 2 and duplicate.pushed_to in {r.listing_key for r in duplicate.listings}


def test_shopee_changes_are_read_incrementally(sim, api, service) -> None:
    listings = listing_sim.shop_listings(sim.marketplaces, "shopee", sim.marketplaces.shops["shopee"][0].shop_id)
    for item in listings.listed():  # listed an hour ago: out of the next pass's overlap
        item.updated -= 3600
    service.refresh(Channel.shopee, None)
    copy = next(i for i in listings.listed() if i.item_id == listing_sim._item_id("shopee", listings.shop_id,
                                                                                 SKUS[0][0], ":copy"))  # fmt: skip
    # Given the duplicate item is deleted and another item is unlisted on Shopee
    listings.delete(copy.item_id)
    other = next(i for i in listings.listed() if i.variants[0].seller_sku == SKUS[1][0])
    other.status = "UNLIST"
    listings.put(other)
    calls = api.client(Channel.shopee).http.calls
    # When the shop is refreshed again
    report = service.refresh(Channel.shopee, None)
    # Then only the two changed items were read (a handful of calls, not the whole shop), and the map follows
    assert report.items_read == 2 and api.client(Channel.shopee).http.calls - calls < 20
    rows = service.store.rows(Channel.shopee, "default")
    assert not any(r.item_id == copy.item_id for r in rows)
    assert next(r for r in rows if r.item_id == other.item_id).status is ListingStatus.inactive
    assert report.duplicates == 0 and report.unmapped == 1


def test_tiktok_and_lazada_listings_map_every_sku(sim, api, service) -> None:
    for channel in (Channel.tiktok, Channel.lazada):
        report = service.refresh(channel, None)
        rows = service.store.rows(channel, "default")
        assert {row.sku for row in rows} == CATALOG and report.unmapped == 0 and report.duplicates == 0
    lazada = service.store.rows(Channel.lazada, "default")
    assert all(row.shop_sku and row.shop_sku.endswith(row.variant_id) for row in lazada)
    # A TikTok product deleted since is removed from the map by the next pass
    shop = sim.marketplaces.shops["tiktok"][0].shop_id
    listings = listing_sim.shop_listings(sim.marketplaces, "tiktok", shop)
    gone = listings.listed()[0]
    listings.delete(gone.item_id)
    service.refresh(Channel.tiktok, None)
    assert not any(row.item_id == gone.item_id for row in service.store.rows(Channel.tiktok, "default"))


def _updates(channel: Channel, figures: dict[str, int]) -> list[ChannelStockUpdate]:
    now = datetime.now(UTC)
    return [ChannelStockUpdate(channel=channel, sku=sku, atp=atp, level=AvailabilityLevel.in_stock, as_of=now)
            for sku, atp in figures.items()]  # fmt: skip


@pytest.mark.parametrize("channel", [Channel.shopee, Channel.tiktok, Channel.lazada])
def test_the_stock_push_names_listings_from_the_map(sim, api, service, channel) -> None:
    service.refresh(channel, None)
    outbound = api.outbound(channel)
    outbound.listings = service.lookup(channel, None)
    sku = next(sku for sku in sorted(CATALOG) if "-" in sku)
    http = api.client(channel).http
    calls = http.calls
    # When a SKU the shop lists and one it does not are pushed with the map
    outcome = api.push_stock(channel, _updates(channel, {sku: 7, "NOT-LISTED-1": 3}))
    # Then the listed one lands in a single call (no walk or search of the shop's products first)
    assert sim.shown(channel.value)[sku]["atp"] == 7
    if channel is Channel.lazada:  # Lazada finds a SKU by its seller SKU: the map adds its ItemId and SkuId
        assert http.calls - calls == 1
    else:
        assert http.calls - calls == (1 if channel is Channel.shopee else 2)  # TikTok searches the one it lacks
        assert "not listed" in outcome.skipped["NOT-LISTED-1"]


def test_a_duplicate_sku_is_pushed_to_its_primary_listing_only(sim, api, service) -> None:
    service.refresh(Channel.shopee, None)
    duplicate = service.exceptions(ExceptionKind.duplicate, Channel.shopee, "default")[0]
    outbound = api.outbound(Channel.shopee)
    outbound.listings = service.lookup(Channel.shopee, None)
    sent: list[int] = []
    real = outbound.api.call

    def spy(method: str, path: str, shop_id, params: dict, body: bytes | None = None) -> dict:
        if path.endswith("update_stock") and body:
            import json

            sent.append(int(json.loads(body)["item_id"]))
        return real(method, path, shop_id, params, body)

    outbound.api.call = spy  # type: ignore[method-assign]
    try:
        api.push_stock(Channel.shopee, _updates(Channel.shopee, {duplicate.seller_sku: 4}))
    finally:
        del outbound.api.call
    assert sent == [int(duplicate.pushed_to.split(":")[0])]


def test_a_shop_without_a_map_is_searched_live_as_before(sim, api, service) -> None:
    outbound = api.outbound(Channel.tiktok)
    outbound.listings = service.lookup(Channel.tiktok, "never-refreshed")
    outcome = api.push_stock(Channel.tiktok, _updates(Channel.tiktok, {"BTK-PRG-L": 9}))
    assert not outcome.skipped and sim.shown("tiktok")["BTK-PRG-L"]["atp"] == 9


def test_shopee_windows_longer_than_fifteen_days_are_read_in_parts(sim, api) -> None:
    reader = ShopeeListings(api.client(Channel.shopee))
    until = datetime.now(UTC)
    pages = list(reader.changed(until - timedelta(days=40), until, None))
    # Then 3 windows (15 + 15 + 10 days) x 6 statuses are walked, none refused for its length, and every item
    # listed (just now: the last window) is read once
    shop = sim.marketplaces.shops["shopee"][0].shop_id
    assert len(pages) == 18 and pages[-1][1] is None
    assert sum(len(items) for items, _ in pages) == len(
        listing_sim.shop_listings(sim.marketplaces, "shopee", shop).items
    )
