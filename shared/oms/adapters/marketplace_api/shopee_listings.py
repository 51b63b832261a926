"""Shopee's listings for the listing map: the shop's items changed in a window (get_item_list with
update_time_from/update_time_to, one item_status a walk, 100 a page), their SKUs (get_item_base_info, 50
items a call: item_sku and has_model) and, for items with variations, their models (get_model_list:
model_id and model_sku). An item without models is sold as model 0. Shopee allows a window of at most
15 days, so a longer one is walked in 15-day parts; deleted items come from the delete statuses' walks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from oms.adapters.marketplace_api.shopee import (
    ITEM_BASE_PATH,
    ITEM_LIST_PATH,
    MODEL_LIST_PATH,
    ShopeeApi,
    ShopeeError,
)
from oms.channels.marketplace import from_epoch
from oms.errors import DependencyError, NormalizationError
from oms.models.listings import ChannelItem, ChannelVariant, ListingStatus

PAGE = 100  # get_item_list's page_size at most
BASE_PER_CALL = 50  # get_item_base_info's item_id_list at most
WINDOW = timedelta(days=15)
LIVE = ("NORMAL", "UNLIST", "BANNED", "REVIEWING")
GONE = ("SELLER_DELETE", "SHOPEE_DELETE")
STATUS = {"NORMAL": ListingStatus.active} | {s: ListingStatus.inactive for s in LIVE[1:]}


class ShopeeListings:
    def __init__(self, api: ShopeeApi) -> None:
        self.api = api

    def _get(self, path: str, params: dict) -> dict:
        try:
            return self.api.call("GET", path, None, params).get("response") or {}
        except ShopeeError as exc:
            raise DependencyError(f"shopee {path}: {exc}") from exc

    def changed(
        self, since: datetime | None, until: datetime, resume: str | None
    ) -> Iterator[tuple[list[ChannelItem], str | None]]:
        windows: list[tuple[datetime | None, datetime | None]] = [(None, None)]
        if since is not None:
            windows = []
            start = since
            while start < until:
                windows.append((start, min(until, start + WINDOW)))
                start += WINDOW
        statuses = LIVE if since is None else LIVE + GONE
        walks = [(w, s) for w in range(len(windows)) for s in range(len(statuses))]
        at, offset = (int(part) for part in resume.split(":", 1)) if resume else (0, 0)
        for index in range(at, len(walks)):
            window, status = windows[walks[index][0]], statuses[walks[index][1]]
            while True:
                params: dict = {"offset": offset, "page_size": PAGE, "item_status": status}
                if window[0] is not None and window[1] is not None:
                    params |= {"update_time_from": int(window[0].timestamp()),
                               "update_time_to": int(window[1].timestamp())}  # fmt: skip
                page = self._get(ITEM_LIST_PATH, params)
                listed = [item for item in page.get("item") or [] if isinstance(item, dict) and item.get("item_id")]
                if status in GONE:
                    items = [_gone(item, status) for item in listed]
                else:
                    items = self._items([int(item["item_id"]) for item in listed])
                if page.get("has_next_page") and listed:
                    offset = int(page.get("next_offset") or offset + len(listed))
                    yield items, f"{index}:{offset}"
                    continue
                offset = 0
                yield items, (f"{index + 1}:0" if index + 1 < len(walks) else None)
                break

    def _items(self, ids: list[int]) -> list[ChannelItem]:
        found = []
        for start in range(0, len(ids), BASE_PER_CALL):
            chunk = ids[start : start + BASE_PER_CALL]
            base = self._get(ITEM_BASE_PATH, {"item_id_list": ",".join(map(str, chunk))})
            for item in base.get("item_list") or []:
                if not isinstance(item, dict) or not item.get("item_id"):
                    continue
                raw_status = str(item.get("item_status") or "NORMAL")
                status = STATUS.get(raw_status, ListingStatus.deleted if raw_status in GONE else ListingStatus.inactive)
                if item.get("has_model"):
                    variants = self._models(int(item["item_id"]))
                    if variants is None:
                        continue  # gone between the calls: the next walk of the deleted ones says so
                else:  # a product without variations: stock on the item (model 0)
                    variants = [ChannelVariant(variant_id="0", seller_sku=str(item.get("item_sku") or ""))]
                found.append(ChannelItem(item_id=str(item["item_id"]), status=status, channel_status=raw_status,
                                         updated_at=_moment(item.get("update_time")), variants=variants))  # fmt: skip
        return found

    def _models(self, item_id: int) -> list[ChannelVariant] | None:
        try:
            models = self.api.call("GET", MODEL_LIST_PATH, None, {"item_id": item_id}).get("response") or {}
        except ShopeeError as exc:
            if "not_found" in exc.error:
                return None
            raise DependencyError(f"shopee {MODEL_LIST_PATH}: {exc}") from exc
        return [
            ChannelVariant(variant_id=str(model["model_id"]), seller_sku=str(model.get("model_sku") or ""))
            for model in models.get("model") or []
            if isinstance(model, dict) and model.get("model_id") is not None
        ]


def _gone(item: dict, status: str) -> ChannelItem:
    return ChannelItem(item_id=str(item["item_id"]), status=ListingStatus.deleted, channel_status=status,
                       updated_at=_moment(item.get("update_time")))  # fmt: skip


def _moment(value: object) -> datetime | None:
    try:
        return from_epoch(value, "update_time") if value else None
    except NormalizationError:
        return None


def listings(api: ShopeeApi) -> ShopeeListings:
    return ShopeeListings(api)
