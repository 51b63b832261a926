"""Where the listing map is kept (the listings table), and how a channel's listings are read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from oms.models.common import Channel
from oms.models.listings import ChannelItem, ExceptionKind, Listing


class ListingStore(Protocol):
    def rows(self, channel: Channel, shop_id: str) -> list[Listing]:
        """Every row of the shop's map (strongly consistent: a refresh diffs against it)."""
        ...

    def cached_rows(self, channel: Channel, shop_id: str) -> list[Listing] | None:
        """The shop's rows for the stock push, read through a short cache; None when the shop has no map yet
        (no refresh has finished)."""
        ...

    def write(self, puts: list[Listing], deletes: list[Listing]) -> None:
        """Rows written whole and rows removed (batched; a retry of the same batch changes nothing)."""
        ...

    def page(
        self, channel: Channel, shop_id: str, sku: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Listing], str | None]: ...

    def exceptions(self, kind: ExceptionKind, channel: Channel | None, shop_id: str | None) -> list[Listing]:
        """The rows marked with that exception (one channel, one shop)."""
        ...


class ListingReader(Protocol):
    def changed(
        self, since: datetime | None, until: datetime, resume: str | None
    ) -> Iterator[tuple[list[ChannelItem], str | None]]:
        """Pages of the shop's items changed in [since, until] (since None: every live item), each with every
        variant it has now; deleted ones (when since is set) with status deleted and no variants. Each page
        comes with a token to resume after it (None after the last), given back as `resume`."""
        ...
