"""The listing map: each shop's listings read from its channel, incrementally, and kept as data.

A refresh reads what changed since the shop's cursor (less an overlap: a channel's update time can land a
little after the moment it names), replaces the rows of each item read with the variants it has now,
removes the rows of items the channel reports deleted, and recomputes the shop's exceptions. Only rows
that differ are written, so a rerun over the same window writes nothing. The first pass reads every live
listing. A pass out of time stops after a page and keeps where it was: the next run goes on from there.

Duplicates: one OMS SKU on several listings of a shop. The stock push tells ONE of them, the primary
(an active one first, then the oldest item: the lowest item id, which is also stable, since a push does not
change it). Telling both the same figure would offer the stock twice (an oversell); splitting it needs a
rule the OMS does not have. The others stay on the exception list until ops delist them or change their
seller SKU.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from oms.errors import BadRequest
from oms.models.common import Channel
from oms.models.listings import (
    DEFAULT_SHOP,
    ChannelItem,
    ExceptionKind,
    Listing,
    ListingException,
    ListingStatus,
    RefreshReport,
)
from oms.ports import CatalogRepository
from oms.ports.cursors import Cursors
from oms.ports.listings import ListingReader, ListingStore

OVERLAP = timedelta(minutes=5)
LISTED_CHANNELS = frozenset({Channel.shopee, Channel.tiktok, Channel.lazada})  # Tokopedia's are its TikTok shop's


def shop_key(shop_id: str | None) -> str:
    """The map's name of a shop: a registered shop's id, else the channel's default shop."""
    return shop_id or DEFAULT_SHOP


def cursor_name(channel: Channel, shop_id: str | None) -> str:
    return f"{channel.value}#{shop_key(shop_id)}"


def require_listed(channel: Channel) -> None:
    if channel is Channel.tokopedia:
        raise BadRequest("Tokopedia's listings are its TikTok Shop shop's products: use channel tiktok")
    if channel not in LISTED_CHANNELS:
        raise BadRequest(f"{channel.value} has no listing map (shopee, tiktok and lazada do)")


@dataclass
class Progress:
    """The shop's cursor: changes are read through `through`; a pass under way keeps its window and where
    it stopped."""

    through: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    resume: str | None = None
    running: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> Progress:
        if not raw:
            return cls()
        state = json.loads(raw)
        moment = lambda name: datetime.fromisoformat(state[name]) if state.get(name) else None  # noqa: E731
        return cls(moment("through"), moment("since"), moment("until"), state.get("resume"), bool(state.get("running")))

    def dump(self) -> str:
        iso = lambda m: m.isoformat() if m else None  # noqa: E731
        return json.dumps(
            {"through": iso(self.through), "since": iso(self.since), "until": iso(self.until), "resume": self.resume,
             "running": self.running}, separators=(",", ":"),
        )  # fmt: skip


def primary_of(rows: Iterable[Listing]) -> Listing | None:
    """The listing of a SKU the stock push tells: an active one first, then the oldest item."""

    def order(row: Listing) -> tuple:
        numeric = row.item_id.isdigit()
        return (row.status is not ListingStatus.active, not numeric,
                int(row.item_id) if numeric else 0, row.item_id, row.variant_id)  # fmt: skip

    return min(rows, key=order, default=None)


def with_exceptions(rows: list[Listing]) -> list[Listing]:
    """Each row with its exception: unmapped (no OMS SKU), duplicate (its SKU on another row too)."""
    by_sku: dict[str, list[Listing]] = {}
    for row in rows:
        if row.sku is not None:
            by_sku.setdefault(row.sku, []).append(row)
    out = []
    for row in rows:
        if row.sku is None:
            kind = ExceptionKind.unmapped
        elif len(by_sku[row.sku]) > 1:
            kind = ExceptionKind.duplicate
        else:
            kind = None
        out.append(row if row.exception == kind else row.model_copy(update={"exception": kind}))
    return out


class ListingMap:
    def __init__(
        self,
        store: ListingStore,
        cursors: Cursors,
        catalog: CatalogRepository,
        readers: Callable[[Channel, str | None], ListingReader],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.cursors = cursors
        self.catalog = catalog
        self.readers = readers  # (channel, registered shop id or None) -> that shop's reader
        self.clock = clock

    # ------------------------------------------------------------ the stock push's lookup

    def ids(self, channel: Channel, shop_id: str | None, skus: list[str]) -> dict[str, Listing | None] | None:
        """SKU -> the listing the push tells (None: the shop does not list it); None when the shop has no map
        yet (the caller looks the SKUs up live, as before)."""
        rows = self.store.cached_rows(channel, shop_key(shop_id))
        if rows is None:
            return None
        by_sku: dict[str, list[Listing]] = {}
        for row in rows:
            if row.sku is not None:
                by_sku.setdefault(row.sku, []).append(row)
        return {sku: primary_of(by_sku.get(sku, [])) for sku in skus}

    def lookup(self, channel: Channel, shop_id: str | None) -> Callable[[list[str]], dict[str, Listing | None] | None]:
        """The lookup an outbound of that shop is given."""
        return lambda skus: self.ids(channel, shop_id, skus)

    # ------------------------------------------------------------ refresh

    def refresh(self, channel: Channel, shop_id: str | None, *, full: bool = False,
                time_left: Callable[[], float] | None = None) -> RefreshReport:  # fmt: skip
        """Read the shop's changes into its map. time_left: seconds this invocation may still use; below a
        minute the pass stops after a page, keeps where it was, and reports complete=False."""
        require_listed(channel)
        key = shop_key(shop_id)
        name = cursor_name(channel, shop_id)
        progress = Progress.parse(self.cursors.get(name))
        if full:
            progress = Progress(through=None)
        if not progress.running:
            progress.since = progress.through - OVERLAP if progress.through else None
            progress.until = self.clock()
            progress.resume = None
            progress.running = True
        assert progress.until is not None
        report = RefreshReport(channel=channel, shop_id=key, since=progress.since, until=progress.until)
        current = {row.listing_key: row for row in self.store.rows(channel, key)}
        touched: set[str] = set()
        reader = self.readers(channel, shop_id)
        for items, resume in reader.changed(progress.since, progress.until, progress.resume):
            puts, deletes = self._apply(channel, key, items, current)
            touched.update(row.listing_key for row in puts)
            report.items_read += len(items)
            report.rows_written += len(puts)
            report.rows_deleted += len(deletes)
            if puts or deletes:
                self.store.write(puts, deletes)
            progress.resume = resume
            if resume is not None and time_left is not None and time_left() < 60:
                self.cursors.put(name, progress.dump())
                report.complete = False
                return report
        # Exceptions over the whole shop: a SKU may be duplicated by a listing read long ago.
        marked = self._recheck_unmapped(list(current.values()), touched)
        changed = [row for row in with_exceptions(marked) if current.get(row.listing_key) != row]
        if changed:
            self.store.write(changed, [])
            report.rows_written += len(changed)
        final = {**current, **{row.listing_key: row for row in changed}}.values()
        report.unmapped = sum(1 for row in final if row.exception is ExceptionKind.unmapped)
        report.duplicates = len({row.sku for row in final if row.exception is ExceptionKind.duplicate})
        self.cursors.put(name, Progress(through=progress.until).dump())
        return report

    def _apply(
        self, channel: Channel, shop: str, items: list[ChannelItem], current: dict[str, Listing]
    ) -> tuple[list[Listing], list[Listing]]:
        """The rows to write and remove so each item's rows are the variants it has now (current is kept up
        to date). A new row's exception waits for the recount at the end."""
        seller_skus = {v.seller_sku for item in items for v in item.variants if v.seller_sku}
        known = self.catalog.known_skus(seller_skus) if seller_skus else set()
        by_item: dict[str, list[Listing]] = {}
        for row in current.values():
            by_item.setdefault(row.item_id, []).append(row)
        puts: list[Listing] = []
        deletes: list[Listing] = []
        for item in items:
            wanted: dict[str, Listing] = {}
            if item.status is not ListingStatus.deleted:
                for variant in item.variants:
                    if variant.status is ListingStatus.deleted:
                        continue
                    listing_key = f"{item.item_id}:{variant.variant_id}"
                    old = current.get(listing_key)
                    status = ListingStatus.inactive if item.status is ListingStatus.inactive else variant.status
                    wanted[listing_key] = Listing(
                        channel=channel, shop_id=shop, listing_key=listing_key, item_id=item.item_id,
                        variant_id=variant.variant_id, seller_sku=variant.seller_sku,
                        sku=variant.seller_sku if variant.seller_sku in known else None, shop_sku=variant.shop_sku,
                        status=status, channel_status=item.channel_status, channel_updated_at=item.updated_at,
                        exception=old.exception if old is not None else None,
                    )  # fmt: skip
            for old in by_item.get(item.item_id, []):
                if old.listing_key not in wanted:
                    deletes.append(old)
                    del current[old.listing_key]
            for listing_key, row in wanted.items():
                old = current.get(listing_key)
                if old is not None and old.seller_sku != row.seller_sku:
                    deletes.append(old)  # its seller SKU changed: the row moves to the new SKU's key
                if _differs(old, row):
                    puts.append(row)
                    current[listing_key] = row
        return puts, deletes

    def _recheck_unmapped(self, rows: list[Listing], touched: set[str]) -> list[Listing]:
        """Unmapped rows not read in this pass, checked against the catalog again (the SKU may have been added
        since); the rest as they are."""
        stale = {
            row.seller_sku for row in rows if row.sku is None and row.seller_sku and row.listing_key not in touched
        }
        known = self.catalog.known_skus(stale) if stale else set()
        return [row.model_copy(update={"sku": row.seller_sku}) if row.sku is None and row.seller_sku in known else row
                for row in rows]  # fmt: skip

    # ------------------------------------------------------------ reads

    def exceptions(
        self, kind: ExceptionKind | None, channel: Channel | None, shop_id: str | None
    ) -> list[ListingException]:
        kinds = [kind] if kind else list(ExceptionKind)
        found: list[ListingException] = []
        for each in kinds:
            rows = self.store.exceptions(each, channel, shop_id)
            if each is ExceptionKind.unmapped:
                found += [
                    ListingException(
                        channel=row.channel,
                        shop_id=row.shop_id,
                        kind=each,
                        seller_sku=row.seller_sku,
                        listings=[row],
                        reason="no seller SKU" if not row.seller_sku else "not a SKU of the catalog",
                    )
                    for row in rows
                ]
                continue
            groups: dict[tuple[Channel, str, str], list[Listing]] = {}
            for row in rows:
                groups.setdefault((row.channel, row.shop_id, row.sku or row.seller_sku), []).append(row)
            for (group_channel, group_shop, sku), listed in sorted(groups.items()):
                primary = primary_of(listed)
                assert primary is not None
                marked = [row.model_copy(update={"primary": row.listing_key == primary.listing_key}) for row in listed]
                found.append(
                    ListingException(
                        channel=group_channel, shop_id=group_shop, kind=each, seller_sku=sku, listings=marked,
                        pushed_to=primary.listing_key,
                        reason=f"{len(listed)} listings carry {sku}: the stock push tells {primary.listing_key} only",
                    )
                )  # fmt: skip
        return found


def _differs(old: Listing | None, new: Listing) -> bool:
    return old is None or old != new
