"""TikTok Shop's listings for the listing map: Search Products (POST /product/202309/products/search,
100 a page, page_token) with update_time_ge/update_time_le in the body; each product comes with its SKUs
(id, seller_sku). Deleted products are a separate walk (status DELETED), asked only when reading changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from oms.adapters.marketplace_api.tiktok import PRODUCT_SEARCH_PATH, TiktokApi, TiktokError
from oms.channels.marketplace import from_epoch
from oms.errors import DependencyError, NormalizationError
from oms.models.listings import ChannelItem, ChannelVariant, ListingStatus

PAGE = 100
ACTIVE = "ACTIVATE"
GONE = "DELETED"


class TiktokListings:
    def __init__(self, api: TiktokApi) -> None:
        self.api = api

    def changed(
        self, since: datetime | None, until: datetime, resume: str | None
    ) -> Iterator[tuple[list[ChannelItem], str | None]]:
        walks = ["ALL"] if since is None else ["ALL", GONE]
        at, token = resume.split(":", 1) if resume else ("0", "")
        for index in range(int(at), len(walks)):
            body: dict = {"status": walks[index]}
            if since is not None:
                body |= {"update_time_ge": int(since.timestamp()), "update_time_le": int(until.timestamp())}
            while True:
                params = {"page_size": str(PAGE)}
                if token:
                    params["page_token"] = token
                try:
                    data = self.api.call("POST", PRODUCT_SEARCH_PATH, params, body).get("data") or {}
                except TiktokError as exc:
                    raise DependencyError(f"tiktok search products: {exc}") from exc
                items = [_item(p) for p in data.get("products") or [] if isinstance(p, dict) and p.get("id")]
                token = str(data.get("next_page_token") or "")
                if token and items:
                    yield items, f"{index}:{token}"
                    continue
                token = ""
                yield items, (f"{index + 1}:" if index + 1 < len(walks) else None)
                break


def _item(product: dict) -> ChannelItem:
    raw = str(product.get("status") or "")
    status = ListingStatus.active if raw == ACTIVE else ListingStatus.deleted if raw == GONE else ListingStatus.inactive
    variants = [
        ChannelVariant(variant_id=str(sku["id"]), seller_sku=str(sku.get("seller_sku") or ""))
        for sku in product.get("skus") or []
        if isinstance(sku, dict) and sku.get("id")
    ]
    return ChannelItem(item_id=str(product["id"]), status=status, channel_status=raw,
                       updated_at=_moment(product.get("update_time")),
                       variants=[] if status is ListingStatus.deleted else variants)  # fmt: skip


def _moment(value: object) -> datetime | None:
    try:
        return from_epoch(value, "update_time") if value else None
    except NormalizationError:
        return None


def listings(api: TiktokApi) -> TiktokListings:
    return TiktokListings(api)
