"""Lazada's listings for the listing map: GetProducts (GET /products/get, filter all, 50 a page by
offset) with update_after/update_before; each product (item_id, status, updated_time in ms) comes with its
SKUs (SkuId, SellerSku, ShopSku, Status). Deleted products are a separate walk (filter deleted), asked only
when reading changes. Lazada keeps a seller SKU unique per seller, so duplicates are not expected here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from oms.adapters.marketplace_api.lazada import LazadaApi, LazadaError
from oms.channels.marketplace import from_epoch
from oms.errors import DependencyError, NormalizationError
from oms.models.listings import ChannelItem, ChannelVariant, ListingStatus

PRODUCTS_PATH = "/products/get"
PAGE = 50


def _status(raw: object) -> ListingStatus:
    word = str(raw or "").strip().lower()
    if word in ("active", "live"):
        return ListingStatus.active
    return ListingStatus.deleted if word == "deleted" else ListingStatus.inactive


class LazadaListings:
    def __init__(self, api: LazadaApi) -> None:
        self.api = api

    def changed(
        self, since: datetime | None, until: datetime, resume: str | None
    ) -> Iterator[tuple[list[ChannelItem], str | None]]:
        walks = ["all"] if since is None else ["all", "deleted"]
        at, offset = (int(part) for part in resume.split(":", 1)) if resume else (0, 0)
        for index in range(at, len(walks)):
            while True:
                params = {"filter": walks[index], "offset": str(offset), "limit": str(PAGE)}
                if since is not None:
                    params |= {"update_after": _iso(since), "update_before": _iso(until)}
                try:
                    data = self.api.call("GET", PRODUCTS_PATH, params).get("data") or {}
                except LazadaError as exc:
                    raise DependencyError(f"lazada {PRODUCTS_PATH}: {exc}") from exc
                products = [p for p in data.get("products") or [] if isinstance(p, dict) and p.get("item_id")]
                items = [_item(p, walks[index] == "deleted") for p in products]
                offset += len(products)
                if len(products) == PAGE and offset < int(data.get("total_products") or 0):
                    yield items, f"{index}:{offset}"
                    continue
                offset = 0
                yield items, (f"{index + 1}:0" if index + 1 < len(walks) else None)
                break


def _item(product: dict, deleted: bool) -> ChannelItem:
    status = ListingStatus.deleted if deleted else _status(product.get("status"))
    variants = [
        ChannelVariant(variant_id=str(sku["SkuId"]), seller_sku=str(sku.get("SellerSku") or ""),
                       shop_sku=str(sku["ShopSku"]) if sku.get("ShopSku") else None, status=_status(sku.get("Status")))
        for sku in product.get("skus") or []
        if isinstance(sku, dict) and sku.get("SkuId") is not None
    ]  # fmt: skip
    return ChannelItem(item_id=str(product["item_id"]), status=status, channel_status=str(product.get("status") or ""),
                       updated_at=_moment(product.get("updated_time")),
                       variants=[] if status is ListingStatus.deleted else variants)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _moment(value: object) -> datetime | None:
    try:
        return from_epoch(value, "updated_time", millis=True) if value else None
    except NormalizationError:
        return None


def listings(api: LazadaApi) -> LazadaListings:
    return LazadaListings(api)
