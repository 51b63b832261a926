"""The listing map (oms.domain.listings): incremental refresh, idempotent reruns, exceptions, the push's
lookup and a pass that runs out of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms.domain.listings import OVERLAP, ListingMap, primary_of
from oms.errors import BadRequest
from oms.models.common import Channel
from oms.models.listings import ChannelItem, ChannelVariant, ExceptionKind, Listing, ListingStatus
from tests.fakes import FakeCatalog, FakeCursors
from tests.fakes.listings import FakeChannelListings, FakeListingStore

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
CATALOG = {"BTK-PRG-L", "BTK-PRG-M", "TEH-TUBRUK-100", "KOPI-100"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def item(item_id: str, *skus: str, status: ListingStatus = ListingStatus.active, at: datetime = T0,
         models: bool = True) -> ChannelItem:  # fmt: skip
    variants = [
        ChannelVariant(variant_id=f"{item_id}{n}" if models else "0", seller_sku=sku) for n, sku in enumerate(skus)
    ]
    return ChannelItem(item_id=item_id, status=status, channel_status=status.value, updated_at=at, variants=variants)


@pytest.fixture
def shop() -> FakeChannelListings:
    channel = FakeChannelListings(page_size=2)
    channel.put(item("100", "BTK-PRG-L", "BTK-PRG-M"))
    channel.put(item("200", "TEH-TUBRUK-100", models=False))
    channel.put(item("300", "TEH-TUBRUK-100", models=False))  # the same SKU listed again: a duplicate
    channel.put(item("400", "ZZ-NOT-OURS", models=False))  # a seller SKU the catalog does not know
    channel.put(item("500", "", models=False))  # no seller SKU at all
    return channel


@pytest.fixture
def world(shop: FakeChannelListings) -> tuple[ListingMap, FakeListingStore, FakeCursors, Clock]:
    cursors, clock = FakeCursors(), Clock()
    store = FakeListingStore(cursors)
    service = ListingMap(store, cursors, FakeCatalog(set(CATALOG)), lambda channel, shop_id: shop, clock)
    return service, store, cursors, clock


def test_the_first_pass_maps_every_listing_and_lists_the_exceptions(world, shop) -> None:
    service, store, _, _ = world
    # When a shop is refreshed the first time
    report = service.refresh(Channel.shopee, "111")
    # Then every live listing has its row, mapped to the OMS SKU it carries
    rows = {row.listing_key: row for row in store.rows(Channel.shopee, "111")}
    assert sorted(rows) == ["100:1000", "100:1001", "200:0", "300:0", "400:0", "500:0"]
    assert rows["100:1001"].sku == "BTK-PRG-M" and rows["200:0"].variant_id == "0"
    assert shop.asked[0][0] is None  # the first pass reads everything
    # And the unmapped listings and the SKU listed twice are the exceptions
    assert report.unmapped == 2 and report.duplicates == 1 and report.complete
    exceptions = service.exceptions(None, Channel.shopee, "111")
    kinds = sorted((e.kind.value, e.seller_sku) for e in exceptions)
    assert kinds == [("duplicate", "TEH-TUBRUK-100"), ("unmapped", ""), ("unmapped", "ZZ-NOT-OURS")]
    duplicate = next(e for e in exceptions if e.kind is ExceptionKind.duplicate)
    assert duplicate.pushed_to == "200:0"  # the oldest item
    assert [(row.listing_key, row.primary) for row in duplicate.listings] == [("200:0", True), ("300:0", False)]
    assert next(e for e in exceptions if e.seller_sku == "").reason == "no seller SKU"


def test_a_rerun_writes_nothing_and_reads_from_the_cursor_less_the_overlap(world, shop) -> None:
    service, store, _, clock = world
    service.refresh(Channel.shopee, "111")
    writes = store.writes
    # When the same shop is refreshed again later with nothing changed
    clock.now = T0 + timedelta(minutes=30)
    again = service.refresh(Channel.shopee, "111")
    # Then only the changes since the last pass (less the overlap) are asked for, and nothing is written
    assert shop.asked[-1][:2] == (T0 - OVERLAP, T0 + timedelta(minutes=30))
    assert store.writes == writes and again.rows_written == 0 and again.rows_deleted == 0
    # And the same window read twice (items the overlap shows again) writes nothing either
    shop.put(item("100", "BTK-PRG-L", "BTK-PRG-M", at=T0 + timedelta(minutes=1)))
    clock.now = T0 + timedelta(minutes=31)
    service.refresh(Channel.shopee, "111")
    after_change = store.writes
    clock.now = T0 + timedelta(minutes=32)
    service.refresh(Channel.shopee, "111")  # the item is in the overlap again
    assert store.writes == after_change


def test_changed_deleted_and_relabelled_listings_replace_their_rows(world, shop) -> None:
    service, store, _, clock = world
    service.refresh(Channel.shopee, "111")
    later = T0 + timedelta(minutes=20)
    # Given: item 100 lost a model, item 300 (the duplicate) was deleted, item 400 now carries a catalog SKU
    shop.put(item("100", "BTK-PRG-L", at=later))
    shop.put(item("300", status=ListingStatus.deleted, at=later))
    shop.put(item("400", "KOPI-100", at=later, models=False))
    clock.now = later + timedelta(minutes=10)
    report = service.refresh(Channel.shopee, "111")
    rows = {row.listing_key: row for row in store.rows(Channel.shopee, "111")}
    # Then the rows follow the channel: the model and the deleted item are gone, 400 is mapped under its new SKU
    assert sorted(rows) == ["100:1000", "200:0", "400:0", "500:0"]
    assert rows["400:0"].sku == "KOPI-100" and rows["400:0"].exception is None
    assert len([k for k in store.items if k[3] == "400:0"]) == 1  # the old SKU's row went with the change
    # And the duplicate is resolved: TEH-TUBRUK-100 is on one listing now
    assert rows["200:0"].exception is None
    assert report.duplicates == 0 and report.unmapped == 1 and report.rows_deleted == 3


def test_an_unmapped_listing_maps_once_the_catalog_knows_its_sku(world, shop) -> None:
    service, store, _, clock = world
    service.refresh(Channel.shopee, "111")
    # When the catalog gains the SKU (the listing itself did not change)
    service.catalog.skus.add("ZZ-NOT-OURS")  # type: ignore[attr-defined]
    clock.now = T0 + timedelta(hours=1)
    service.refresh(Channel.shopee, "111")
    row = next(row for row in store.rows(Channel.shopee, "111") if row.listing_key == "400:0")
    assert row.sku == "ZZ-NOT-OURS" and row.exception is None


def test_the_push_lookup_answers_from_the_map_or_says_there_is_none(world) -> None:
    service, _, _, _ = world
    # Before any refresh the shop has no map: the outbound looks SKUs up live
    assert service.ids(Channel.shopee, "111", ["BTK-PRG-L"]) is None
    service.refresh(Channel.shopee, "111")
    found = service.lookup(Channel.shopee, "111")(["BTK-PRG-L", "TEH-TUBRUK-100", "KOPI-100"])
    assert found is not None
    assert (found["BTK-PRG-L"].item_id, found["BTK-PRG-L"].variant_id) == ("100", "1000")
    assert found["TEH-TUBRUK-100"].listing_key == "200:0"  # a duplicate: the primary only
    assert found["KOPI-100"] is None  # the shop does not list it
    # And another shop of the channel has a map of its own
    assert service.ids(Channel.shopee, "222", ["BTK-PRG-L"]) is None


def test_the_primary_of_a_duplicate_is_an_active_listing_then_the_oldest() -> None:
    def row(item_id: str, status: ListingStatus) -> Listing:
        return Listing(channel=Channel.tiktok, shop_id="s", listing_key=f"{item_id}:1", item_id=item_id,
                       variant_id="1", seller_sku="A", sku="A", status=status)  # fmt: skip

    rows = [row("900", ListingStatus.active), row("50", ListingStatus.inactive), row("1000", ListingStatus.active)]
    primary = primary_of(rows)
    assert primary is not None and primary.item_id == "900"
    assert primary_of(reversed(rows)) == primary  # the order read does not matter


def test_a_pass_out_of_time_stops_after_a_page_and_goes_on_from_there(world, shop) -> None:
    service, store, cursors, clock = world
    # When the first pass has almost no time left
    report = service.refresh(Channel.shopee, "111", time_left=lambda: 30.0)
    # Then it stops after one page, keeps where it was, and the shop has no map yet
    assert not report.complete and report.items_read == 2
    assert service.ids(Channel.shopee, "111", ["BTK-PRG-L"]) is None and cursors.values
    # When it runs again (later, with time), it goes on from that page in the same window
    clock.now = T0 + timedelta(minutes=5)
    done = service.refresh(Channel.shopee, "111")
    assert done.complete and done.until == T0 and done.since is None
    assert shop.asked[-1][2] == "2"  # resumed after the first page
    assert len(store.rows(Channel.shopee, "111")) == 6 and done.unmapped == 2 and done.duplicates == 1


def test_a_full_refresh_reads_everything_again(world, shop) -> None:
    service, _, _, clock = world
    service.refresh(Channel.shopee, "111")
    clock.now = T0 + timedelta(hours=2)
    service.refresh(Channel.shopee, "111", full=True)
    assert shop.asked[-1][0] is None


def test_tokopedia_listings_are_its_tiktok_shops(world) -> None:
    service, _, _, _ = world
    with pytest.raises(BadRequest, match="TikTok Shop"):
        service.refresh(Channel.tokopedia, None)
    with pytest.raises(BadRequest):
        service.refresh(Channel.web, None)
