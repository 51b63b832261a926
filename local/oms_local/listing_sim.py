"""The marketplaces' product listings, simulated: each shop lists the demo catalogue under its own ids, in
each channel's documented calls, paged and filtered by update time, so the OMS's listing map can be
refreshed against them (marketplace_sim.py hands these calls here).

  Shopee       get_item_list (offset/page_size <= 100, item_status, update_time_from/update_time_to at most
               15 days apart), get_item_base_info (<= 50 ids: item_sku, has_model), get_model_list
  TikTok Shop  POST /product/202309/products/search (page_size <= 100, page_token; body seller_skus, status,
               update_time_ge/update_time_le)
  Lazada       GET /products/get (filter all|live|inactive|deleted, offset/limit <= 50, update_after/
               update_before ISO 8601)

Each shop's listings are made on first use from the seed catalogue (SKUs with a dash are variations: a
Shopee model each; the others are simple items, model 0). The demo's first Shopee shop also lists one SKU
twice (a duplicate) and one item whose seller SKU the OMS does not know. `shop_listings(...)` gives a shop's
listings to change in tests: `put` / `delete` stamp the change with the current time.
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from oms_local.marketplace_sim import MarketplaceSim, SimShop

UNKNOWN_SKU = "ZZ-UNKNOWN-1"  # a seller SKU no catalogue has: the demo's unmapped listing
SHOPEE_LIVE = ("NORMAL", "UNLIST", "BANNED", "REVIEWING")
TIKTOK_STATUSES = ("ACTIVATE", "DRAFT", "PENDING", "FAILED", "SELLER_DEACTIVATED", "PLATFORM_DEACTIVATED", "FREEZE")


@dataclass
class SimVariant:
    variant_id: str
    seller_sku: str
    shop_sku: str | None = None


@dataclass
class SimItem:
    item_id: str
    status: str  # the channel's own word: NORMAL / ACTIVATE / active, or a deleted one
    updated: int  # epoch seconds
    variants: list[SimVariant]
    has_model: bool = True


@dataclass
class ShopListings:
    channel: str
    shop_id: str
    items: dict[str, SimItem] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, item: SimItem, at: int | None = None) -> SimItem:
        item.updated = int(time.time()) if at is None else at
        with self.lock:
            self.items[item.item_id] = item
        return item

    def delete(self, item_id: str, at: int | None = None) -> None:
        gone = {"shopee": "SELLER_DELETE", "tiktok": "DELETED", "lazada": "deleted"}[self.channel]
        with self.lock:
            item = self.items[item_id]
            item.status, item.updated = gone, int(time.time()) if at is None else at

    def listed(self) -> list[SimItem]:
        with self.lock:
            return sorted(self.items.values(), key=lambda item: int(item.item_id))

    def sku_of(self, item_id: str) -> dict[str, str]:
        """variant id -> seller SKU of a live item ({} when unknown or deleted)."""
        with self.lock:
            item = self.items.get(item_id)
        if item is None or item.status in ("SELLER_DELETE", "SHOPEE_DELETE", "DELETED", "deleted"):
            return {}
        return {variant.variant_id: variant.seller_sku for variant in item.variants}


_LISTINGS: WeakKeyDictionary[MarketplaceSim, dict[tuple[str, str], ShopListings]] = WeakKeyDictionary()
_BUILD = threading.Lock()


def shop_listings(sim: MarketplaceSim, channel: str, shop_id: str) -> ShopListings:
    with _BUILD:
        shops = _LISTINGS.setdefault(sim, {})
        if (channel, shop_id) not in shops:
            first = bool(sim.shops.get(channel)) and sim.shops[channel][0].shop_id == shop_id
            shops[(channel, shop_id)] = _build(channel, shop_id, demo_exceptions=first and channel == "shopee")
        return shops[(channel, shop_id)]


def reset(sim: MarketplaceSim) -> None:
    """Every shop's listings made again from the catalogue (tests)."""
    with _BUILD:
        _LISTINGS.pop(sim, None)


def _build(channel: str, shop_id: str, demo_exceptions: bool) -> ShopListings:
    from oms_local.seed import SKUS

    listings = ShopListings(channel, shop_id)
    made = int(time.time())
    skus = [sku for sku, *_ in SKUS]
    for sku in skus:
        listings.items[_item_id(channel, shop_id, sku)] = _item(channel, shop_id, sku, made)
    if demo_exceptions:
        copy = _item(channel, shop_id, skus[0], made, seed=":copy")  # the same SKU on a second item
        listings.items[copy.item_id] = copy
        unknown = _item(channel, shop_id, UNKNOWN_SKU, made)
        listings.items[unknown.item_id] = unknown
    return listings


def _number(seed: str, digits: int) -> str:
    return str(10 ** (digits - 1) + zlib.crc32(seed.encode()) % (9 * 10 ** (digits - 1)))


def _item_id(channel: str, shop_id: str, sku: str, seed: str = "") -> str:
    if channel == "shopee":  # the ids marketplace_sim's stock calls have always used
        return _number(f"{shop_id}:{sku}:item{seed}", 11)
    if channel == "tiktok":
        return f"17{str(zlib.crc32(f'{sku}:product{seed}'.encode()) % 10**17).zfill(17)}"
    return _number(f"{shop_id}:{sku}:lazada-item{seed}", 10)


def _item(channel: str, shop_id: str, sku: str, made: int, seed: str = "") -> SimItem:
    item_id = _item_id(channel, shop_id, sku, seed)
    if channel == "shopee":
        variants = [SimVariant(_number(f"{shop_id}:{sku}:model{seed}", 11) if "-" in sku else "0", sku)]
        return SimItem(item_id, "NORMAL", made, variants, has_model="-" in sku)
    if channel == "tiktok":
        sku_id = f"17{str(zlib.crc32(f'{sku}{seed}'.encode()) % 10**17).zfill(17)}"
        return SimItem(item_id, "ACTIVATE", made, [SimVariant(sku_id, sku)])
    sku_id = _number(f"{shop_id}:{sku}:lazada-sku{seed}", 10)
    return SimItem(item_id, "active", made, [SimVariant(sku_id, sku, f"{item_id}_ID-{sku_id}")])


def _changed(item: SimItem, since: int | None, until: int | None) -> bool:
    return (since is None or item.updated >= since) and (until is None or item.updated <= until)


def _int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


# ------------------------------------------------------------ Shopee


def shopee(  # noqa: PLR0911 - one answer per documented call and error
    sim: MarketplaceSim, shop: SimShop, path: str, query: dict[str, str]
) -> dict[str, Any] | None:
    """The answer (body without the envelope's request_id) to a Shopee product read, or None for another path."""
    listings = shop_listings(sim, "shopee", shop.shop_id)
    if path == "/api/v2/product/get_item_list":
        start, size = _int(query.get("offset"), 0) or 0, _int(query.get("page_size"), 10) or 10
        since, until = _int(query.get("update_time_from")), _int(query.get("update_time_to"))
        if size > 100:
            return {"error": "error_param", "message": "page_size must be at most 100"}
        if since is not None and until is not None and until - since > 15 * 86400:
            return {"error": "error_param", "message": "update_time range must not exceed 15 days"}
        status = query.get("item_status") or "NORMAL"
        found = [item for item in listings.listed() if item.status == status and _changed(item, since, until)]
        page = [{"item_id": int(i.item_id), "item_status": i.status, "update_time": i.updated}
                for i in found[start : start + size]]  # fmt: skip
        more = start + size < len(found)
        return {"response": {"item": page, "total_count": len(found), "has_next_page": more,
                             "next_offset": start + size}}  # fmt: skip
    if path == "/api/v2/product/get_item_base_info":
        wanted = [i for i in str(query.get("item_id_list") or "").split(",") if i]
        if not wanted or len(wanted) > 50:
            return {"error": "error_param", "message": "item_id_list must hold 1 to 50 ids"}
        items = {item.item_id: item for item in listings.listed()}
        found = [
            {"item_id": int(i), "item_status": items[i].status, "update_time": items[i].updated,
             "has_model": items[i].has_model,
             **({} if items[i].has_model else {"item_sku": items[i].variants[0].seller_sku})}
            for i in wanted if i in items
        ]  # fmt: skip
        return {"response": {"item_list": found}}
    if path == "/api/v2/product/get_model_list":
        item = next((i for i in listings.listed() if i.item_id == str(query.get("item_id"))), None)
        if item is None or not listings.sku_of(item.item_id):
            return {"error": "product.error_item_not_found", "message": "item not found"}
        models = [{"model_id": int(v.variant_id), "model_sku": v.seller_sku, "tier_index": [n]}
                  for n, v in enumerate(item.variants)] if item.has_model else []  # fmt: skip
        return {"response": {"tier_variation": [], "model": models}}
    return None


def shopee_stock_target(sim: MarketplaceSim, shop: SimShop, item_id: object) -> dict[int, str]:
    """model id -> seller SKU of a live item of the shop (model 0: an item without models); {} if unknown."""
    return {
        int(variant): sku for variant, sku in shop_listings(sim, "shopee", shop.shop_id).sku_of(str(item_id)).items()
    }


# ------------------------------------------------------------ TikTok Shop


def tiktok_search(sim: MarketplaceSim, shop: SimShop, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """Search Products' data: by seller SKUs and/or status and update time, paged by page_token."""
    listings = shop_listings(sim, "tiktok", shop.shop_id)
    wanted = set(body.get("seller_skus") or [])
    status = str(body.get("status") or "ALL")
    since, until = _int(body.get("update_time_ge")), _int(body.get("update_time_le"))
    found = [
        item for item in listings.listed()
        if (item.status == status or (status == "ALL" and item.status != "DELETED"))
        and _changed(item, since, until) and (not wanted or any(v.seller_sku in wanted for v in item.variants))
    ]  # fmt: skip
    start, size = _int(query.get("page_token"), 0) or 0, min(_int(query.get("page_size"), 20) or 20, 100)
    page = [{"id": item.item_id, "status": item.status, "update_time": item.updated,
             "skus": [{"id": v.variant_id, "seller_sku": v.seller_sku} for v in item.variants]}
            for item in found[start : start + size]]  # fmt: skip
    more = start + size < len(found)
    return {"products": page, "total_count": len(found), "next_page_token": str(start + size) if more else ""}


def tiktok_sku_of(sim: MarketplaceSim, shop: SimShop, product_id: str) -> dict[str, str]:
    """SKU id -> seller SKU of a live product of the shop."""
    return shop_listings(sim, "tiktok", shop.shop_id).sku_of(product_id)


# ------------------------------------------------------------ Lazada


def lazada_products(sim: MarketplaceSim, shop: SimShop, query: dict[str, str]) -> dict[str, Any]:
    """GetProducts' answer: the seller's products by filter and update time, paged by offset."""
    listings = shop_listings(sim, "lazada", shop.shop_id)
    since, until = _iso(query.get("update_after")), _iso(query.get("update_before"))
    wanted = str(query.get("filter") or "all")
    found = [
        item for item in listings.listed()
        if _changed(item, since, until) and (item.status == wanted if wanted in ("deleted", "inactive")
                                             else item.status != "deleted")
    ]  # fmt: skip
    offset, limit = _int(query.get("offset"), 0) or 0, min(_int(query.get("limit"), 10) or 10, 50)
    products = [
        {"item_id": int(item.item_id), "status": item.status, "updated_time": str(item.updated * 1000),
         "created_time": str(item.updated * 1000),
         "skus": [{"SkuId": int(v.variant_id), "SellerSku": v.seller_sku, "ShopSku": v.shop_sku, "Status": "active"}
                  for v in item.variants]}
        for item in found[offset : offset + limit]
    ]  # fmt: skip
    return {"code": "0", "data": {"total_products": len(found), "products": products}}


def _iso(value: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(value).timestamp()) if value else None
    except ValueError:
        return None
