"""In-memory fakes of the listing ports (oms.ports.listings): a store with the Dynamo adapter's keys, and
a channel whose items change between reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from oms.models.common import Channel
from oms.models.listings import ChannelItem, ExceptionKind, Listing, ListingStatus
from oms.ports.cursors import Cursors


class FakeListingStore:
    """Rows by (channel, shop, seller SKU, listing key), like the table's pk/sk; `writes` counts puts and
    deletes, so a test sees that a rerun writes nothing."""

    def __init__(self, cursors: Cursors) -> None:
        self.items: dict[tuple[Channel, str, str, str], Listing] = {}
        self.writes = 0
        self.cursors = cursors  # a shop has a map once a refresh finished (the adapter reads its CURSOR row)

    def rows(self, channel: Channel, shop_id: str) -> list[Listing]:
        return [row for (c, s, _, _), row in sorted(self.items.items()) if (c, s) == (channel, shop_id)]

    def cached_rows(self, channel: Channel, shop_id: str) -> list[Listing] | None:
        progress = json.loads(self.cursors.get(f"{channel.value}#{shop_id}") or "{}")
        return self.rows(channel, shop_id) if progress.get("through") else None

    def write(self, puts: list[Listing], deletes: list[Listing]) -> None:
        for row in deletes:
            self.items.pop((row.channel, row.shop_id, row.seller_sku, row.listing_key), None)
            self.writes += 1
        for row in puts:
            self.items[(row.channel, row.shop_id, row.seller_sku, row.listing_key)] = row
            self.writes += 1

    def page(self, channel: Channel, shop_id: str, sku: str | None, limit: int, cursor: str | None) -> tuple[
        list[Listing], str | None
    ]:  # fmt: skip
        rows = [row for row in self.rows(channel, shop_id) if sku is None or row.seller_sku == sku]
        start = int(cursor or 0)
        more = start + limit < len(rows)
        return rows[start : start + limit], (str(start + limit) if more else None)

    def exceptions(self, kind: ExceptionKind, channel: Channel | None, shop_id: str | None) -> list[Listing]:
        return [row for (c, s, _, _), row in sorted(self.items.items()) if row.exception is kind
                and channel in (None, c) and shop_id in (None, s)]  # fmt: skip


class FakeChannelListings:
    """A shop's items on the channel, each with its update time; `changed` pages them like the readers do
    (deleted items only when reading changes), `pages_read` counts the pages asked for."""

    def __init__(self, page_size: int = 2) -> None:
        self.items: dict[str, ChannelItem] = {}
        self.page_size = page_size
        self.pages_read = 0
        self.asked: list[tuple[datetime | None, datetime, str | None]] = []

    def put(self, item: ChannelItem) -> None:
        self.items[item.item_id] = item

    def changed(self, since: datetime | None, until: datetime, resume: str | None) -> Iterator[
        tuple[list[ChannelItem], str | None]
    ]:  # fmt: skip
        self.asked.append((since, until, resume))
        listed = [
            item for _, item in sorted(self.items.items())
            if (since is None and item.status is not ListingStatus.deleted)
            or (since is not None and item.updated_at is not None and since <= item.updated_at <= until)
        ]  # fmt: skip
        start = int(resume or 0)
        while True:
            page = listed[start : start + self.page_size]
            start += self.page_size
            self.pages_read += 1
            more = start < len(listed)
            yield page, (str(start) if more else None)
            if not more:
                return
