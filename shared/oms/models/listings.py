"""The listing map: which of a shop's listings carries each SKU (Shopee item + model, TikTok Shop product +
SKU, Lazada item + SkuId/ShopSku), read from the channel and kept as data, so a stock push names the
listing without searching the channel first.

One row per (channel, shop, channel listing). A listing whose seller SKU is empty or not an OMS SKU is
`unmapped`; an OMS SKU on two or more listings of one shop is `duplicate` (the push tells only the
primary one: see `primary`). Both are the exception list ops work through.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from oms.models.common import Channel, Model

DEFAULT_SHOP = "default"  # a channel's one shop when no shop of it is registered (its channel-level settings)


class ListingStatus(StrEnum):
    active = "active"  # buyers can buy it
    inactive = "inactive"  # unlisted, banned, in review, deactivated: kept, not sold
    deleted = "deleted"  # only as the channel reports it: its rows are removed


class ExceptionKind(StrEnum):
    unmapped = "unmapped"  # its seller SKU is empty or not a SKU of the OMS catalog
    duplicate = "duplicate"  # one OMS SKU on two or more listings of one shop


class ChannelVariant(Model):
    """One sellable variant of a channel item, as the channel shows it."""

    variant_id: str = Field(description="Shopee model_id ('0': an item without models), TikTok SKU id, Lazada SkuId")
    seller_sku: str = Field(default="", max_length=200, description="The seller SKU it carries ('' when empty)")
    shop_sku: str | None = Field(default=None, max_length=200, description="Lazada's ShopSku")
    status: ListingStatus = ListingStatus.active


class ChannelItem(Model):
    """A channel item with every variant it has now: the map's rows of that item are replaced by these
    (a variant gone from the item is gone from the map); a deleted item has none."""

    item_id: str = Field(description="Shopee item_id, TikTok Shop product id, Lazada item_id")
    status: ListingStatus
    channel_status: str = Field(default="", max_length=40, description="The channel's own word: NORMAL, ACTIVATE ...")
    updated_at: datetime | None = Field(default=None, description="The channel's update time of the item")
    variants: list[ChannelVariant] = Field(default_factory=list)


class Listing(Model):
    """One row of the map."""

    channel: Channel
    shop_id: str = Field(description="The registered shop's id, or 'default' (the channel's unregistered one)")
    listing_key: str = Field(description="<item id>:<variant id>, unique in the shop")
    item_id: str
    variant_id: str
    seller_sku: str = Field(description="The seller SKU the listing carries ('' when empty)")
    sku: str | None = Field(default=None, description="The OMS SKU it maps to; null when unmapped")
    shop_sku: str | None = None
    status: ListingStatus
    channel_status: str = ""
    channel_updated_at: datetime | None = None
    exception: ExceptionKind | None = None
    primary: bool | None = Field(
        default=None, description="Duplicates: whether the stock push tells this one (the others are left alone)"
    )


class ListingPage(Model):
    items: list[Listing]
    next_cursor: str | None = None


class ListingException(Model):
    """One entry of the exception list: an unmapped listing, or a SKU listed more than once in a shop."""

    channel: Channel
    shop_id: str
    kind: ExceptionKind
    seller_sku: str
    listings: list[Listing] = Field(description="Unmapped: the listing; duplicate: every listing of the SKU")
    pushed_to: str | None = Field(default=None, description="Duplicate: the listing key the stock push tells")
    reason: str


class ListingExceptionList(Model):
    items: list[ListingException]


class RefreshRequest(Model):
    """POST /listings/refresh: one shop, or (without shop_id) every shop of the channel."""

    channel: Channel
    shop_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.]+$")
    full: bool = Field(default=False, description="Read every listing again, not only those changed since the last")


class RefreshAccepted(Model):
    channel: Channel
    shop_id: str | None = Field(description="The shop queued; null: every shop of the channel")
    full: bool


class RefreshReport(Model):
    """What one refresh of one shop did."""

    channel: Channel
    shop_id: str
    since: datetime | None = Field(description="Changes read from (null: every listing)")
    until: datetime
    items_read: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    unmapped: int = 0
    duplicates: int = 0
    complete: bool = Field(default=True, description="False: stopped for time; it goes on from where it stopped")
