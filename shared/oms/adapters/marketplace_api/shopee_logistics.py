"""Shopee Open Platform v2: shipping on Shopee's own couriers (handover options, arrange, resi, airway
bill) for oms.ports.logistics.MarketplaceLogistics, over ShopeeApi's signed calls.

Followed field by field: the vendor's API reference, open.shopee.com/documents/v2/v2.logistics.<call>?module=95
for get_shipping_parameter, get_mass_shipping_parameter, ship_order, mass_ship_order, update_shipping_order,
get_tracking_number, get_mass_tracking_number, get_shipping_document_parameter, create_shipping_document,
get_shipping_document_result and download_shipping_document; and the vendor's "Order management" best
practice (API Best Practices, sections 8 "Shipment API Call Flow" and 9 "FAQ") for the order of the calls.
What the vendor says that shapes this module:

- The mass calls name packages by package_number alone (package_list: [{package_number}], 1 to 50) and only
  batch packages of one logistics_channel_id and one product_location_id; their fail_list gives a
  `fail_reason` text, no code. Single calls answer with `error` and `message`.
- info_needed lists the supported methods: a key that is present is a method that may be used, even when its
  list is empty ("developer should still include the field"). Some channels give no pickup time slot: then
  pickup is arranged with the address alone and Shopee picks the time.
- update_shipping_order is for pickup only (address_id and pickup_time_id both required), for packages whose
  courier failed to pick up (LOGISTICS_PICKUP_RETRY). A drop-off after a failed pickup is a new ship_order.
- tracking_number can stay empty for a while after arranging: ask again at 5-minute intervals (or wait for
  push code 4). A label needs it (create_shipping_document takes it per order).
- Labels are asynchronous: create, then get_shipping_document_result (READY / FAILED / PROCESSING), then
  download_shipping_document, which answers with the file itself (a PDF, or a zip when the shop prints
  thermal, per the FAQ). Documents exist only between arranging and pickup.

One order, several parcels (ShipParcel.siblings): a paid order has one package until the seller splits it,
and arranging a package ships every item in it. So before the options and the arrange of such a parcel the
order is split with v2.order.split_order (open.shopee.com/documents/v2/v2.order.split_order?module=94; the
"Order management" best practice, section 6.1): {order_sn, package_list: [{item_list: [{item_id, model_id,
order_item_id, promotion_group_id, model_quantity}]}]}, every item of the order in one request, 2 to 5
packages outside TW, READY_TO_SHIP only, a shop-level permission ("You don't have the permission to split
order."). Items are split by item and model: model_quantity (units of one model across packages) is only for
shops whitelisted in SG/TH/TW/MY, so it is sent only when the OMS splits a line's units, and Shopee's refusal
is then that parcel's. Every parcel of the order computes the same packages (the parcels in one fixed order),
and an order already split so that a package holds exactly this parcel's items is not split again.

Outcomes follow oms.ports.logistics: one per parcel; Shopee's busy or throttled answers (THROTTLED in
shopee.py) are retryable; its refusals are final, in its own words. An unreachable or failing Shopee (after
the HTTP client's retries) raises DependencyError.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.util import Timeout

from oms.adapters.marketplace_api.http import MIN_CALL_S
from oms.adapters.marketplace_api.shopee import DETAIL_PATH, THROTTLED, ShopeeApi, ShopeeError
from oms.channels.shopee.signing import shop_sign
from oms.errors import DependencyError
from oms.ports.logistics import (
    ArrangeOutcome,
    ArrangeRequest,
    HandoverOptions,
    LabelOutcome,
    PickupSlot,
    ResiOutcome,
    ShipParcel,
)

PARAMETER_PATH = "/api/v2/logistics/get_shipping_parameter"
MASS_PARAMETER_PATH = "/api/v2/logistics/get_mass_shipping_parameter"
SHIP_PATH = "/api/v2/logistics/ship_order"
MASS_SHIP_PATH = "/api/v2/logistics/mass_ship_order"
UPDATE_PATH = "/api/v2/logistics/update_shipping_order"
TRACKING_PATH = "/api/v2/logistics/get_tracking_number"
MASS_TRACKING_PATH = "/api/v2/logistics/get_mass_tracking_number"
DOCUMENT_PARAMETER_PATH = "/api/v2/logistics/get_shipping_document_parameter"
CREATE_DOCUMENT_PATH = "/api/v2/logistics/create_shipping_document"
DOCUMENT_RESULT_PATH = "/api/v2/logistics/get_shipping_document_result"
DOWNLOAD_PATH = "/api/v2/logistics/download_shipping_document"
SHOP_INFO_PATH = "/api/v2/shop/get_shop_info"
SPLIT_PATH = "/api/v2/order/split_order"

BATCH = 50  # every mass and document call takes 1 to 50 packages
MAX_CACHED_ORDERS = 5000
THERMAL = "THERMAL_AIR_WAYBILL"
NORMAL = "NORMAL_AIR_WAYBILL"
# A package past these has been arranged (or picked up): arranging it again is done already.
ARRANGED = frozenset({"LOGISTICS_REQUEST_CREATED", "LOGISTICS_PICKUP_DONE", "LOGISTICS_DELIVERY_DONE"})
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # a label is tens of KB; anything this big is not one
DOWNLOAD_TIMEOUT = Timeout(connect=2.0, read=20.0)

WIB = timezone(timedelta(hours=7), "WIB")  # Asia/Jakarta keeps no daylight saving: a fixed offset is exact
DAYS = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
TIME_RANGE = re.compile(r"(\d{1,2})[:.](\d{2})\s*[-\u2013~]\s*(\d{1,2})[:.](\d{2})")


@dataclass(frozen=True)
class _Package:
    order_sn: str
    package_number: str
    channel_id: int | None = None  # logistics_channel_id: mass calls batch one channel ...
    location: str | None = None  # ... and one product_location_id
    carrier: str | None = None  # shipping_carrier, as Shopee names it
    status: str | None = None  # logistics_status when the order was read (None: not read)


class _Busy(Exception):
    """Shopee answered that it is busy or throttling: the same call may succeed later."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ShopeeLogistics:
    """One Shopee connection's shipping calls. Remembers the orders' packages it has read (grouping needs
    their logistics channel), so handover_options then arrange on one instance reads each order once."""

    def __init__(self, api: ShopeeApi) -> None:
        self.api = api
        self._calls = 0
        self._orders: dict[tuple[str | None, str], dict] = {}  # (shop, order_sn) -> get_order_detail's order
        self._shop_names: dict[str | None, str] = {}

    def calls(self) -> int:
        """Shopee calls this instance made (a call the HTTP client retried counts once)."""
        return self._calls

    def ready_to_ship(self, parcels: Sequence[ShipParcel]) -> dict[str, str | None]:
        return {}  # arranging is Shopee's only step: the courier is told then

    # ------------------------------------------------------------ handover options

    def handover_options(self, parcels: Sequence[ShipParcel]) -> dict[str, HandoverOptions]:
        """get_shipping_parameter per parcel, or get_mass_shipping_parameter for up to 50 packages of one
        logistics channel and location. Slots: f"{address_id}:{pickup_time_id}", labelled in WIB."""
        options: dict[str, HandoverOptions] = {}
        try:
            unsplit, parcels = self._split_where_needed(parcels)
            packages = self._packages(parcels, need_channel=True) | unsplit
        except _Busy as busy:
            return {p.parcel_id: HandoverOptions(p.parcel_id, error=busy.message) for p in parcels}
        known = []
        for parcel in parcels:
            package = packages[parcel.parcel_id]
            if isinstance(package, str):
                options[parcel.parcel_id] = HandoverOptions(parcel.parcel_id, error=package)
            else:
                known.append((parcel, package))
        for shop_id, chunk in _batches(known):
            try:
                answers = self._parameters(shop_id, [package for _, package in chunk])
            except _Busy as busy:
                answers = {package.package_number: busy.message for _, package in chunk}
            for parcel, package in chunk:
                answer = answers[package.package_number]
                options[parcel.parcel_id] = (
                    HandoverOptions(parcel.parcel_id, package_id=package.package_number, error=answer)
                    if isinstance(answer, str)
                    else _options(parcel.parcel_id, package, answer)
                )
        return options

    def _parameters(self, shop_id: str | None, packages: list[_Package]) -> dict[str, dict | str]:
        """package_number -> get_(mass_)shipping_parameter's response, or Shopee's words refusing it."""
        if len(packages) == 1:
            package = packages[0]
            try:
                answer = self._call("GET", PARAMETER_PATH, shop_id, params=_package_params(package))
            except ShopeeError as exc:
                return {package.package_number: _words(exc)[1]}
            return {package.package_number: answer.get("response") or {}}
        body: dict[str, Any] = {"package_list": [{"package_number": p.package_number} for p in packages]}
        body |= _channel_fields(packages[0])
        try:
            response = self._call("POST", MASS_PARAMETER_PATH, shop_id, body=body).get("response") or {}
        except ShopeeError as exc:
            return dict.fromkeys((p.package_number for p in packages), _words(exc)[1])
        failed = _fail_reasons(response)
        succeeded = {str(row.get("package_number")) for row in response.get("success_list") or []}
        return {
            p.package_number: failed.get(p.package_number)
            or (response if p.package_number in succeeded else "shopee did not answer for this package")
            for p in packages
        }

    # ------------------------------------------------------------ arrange

    def arrange(self, requests: Sequence[ArrangeRequest]) -> dict[str, ArrangeOutcome]:
        """ship_order for a lone parcel, mass_ship_order for up to 50 of one channel, location, method and
        slot; update_shipping_order for a pickup again after the courier's failed one. A parcel Shopee
        already shows arranged counts as arranged, whatever the call answered."""
        outcomes: dict[str, ArrangeOutcome] = {}
        try:
            unsplit, parcels = self._split_where_needed([r.parcel for r in requests])
            requests = [dataclasses.replace(r, parcel=p) for r, p in zip(requests, parcels, strict=True)]
            packages = self._packages(parcels, need_channel=True) | unsplit
        except _Busy as busy:
            return {r.parcel.parcel_id: _busy_outcome(r.parcel.parcel_id, busy) for r in requests}
        to_ship, to_update = [], []
        for request in requests:
            parcel_id, package = request.parcel.parcel_id, packages[request.parcel.parcel_id]
            if isinstance(package, str):
                outcomes[parcel_id] = ArrangeOutcome(parcel_id, ok=False, message=package)
            elif package.status in ARRANGED and not request.again:
                outcomes[parcel_id] = _arranged(parcel_id, package)
            elif request.again and request.method == "pickup":
                to_update.append((request, package))
            else:
                to_ship.append((request, package))
        for request, package in to_update:
            outcomes[request.parcel.parcel_id] = self._update_pickup(request, package)
        for _, chunk in _batches(to_ship, extra_key=lambda r: (r.method, r.slot_id)):
            try:
                outcomes.update(self._ship(chunk))
            except _Busy as busy:
                outcomes.update({r.parcel.parcel_id: _busy_outcome(r.parcel.parcel_id, busy) for r, _ in chunk})
        self._confirm_refusals(outcomes, [(r, p) for r, p in to_ship + to_update])
        return outcomes

    def _ship(self, chunk: list[tuple[ArrangeRequest, _Package]]) -> dict[str, ArrangeOutcome]:
        first, package = chunk[0]
        shop_id, method = first.parcel.shop_id, first.method
        outcomes: dict[str, ArrangeOutcome] = {}
        response: dict | None = None
        if method == "dropoff" or first.slot_id is None:  # what to send comes from the shipping parameters
            answers = self._parameters(shop_id, [p for _, p in chunk])
            for request, p in chunk:
                if isinstance(answers[p.package_number], str):
                    outcomes[request.parcel.parcel_id] = _refused(
                        request.parcel.parcel_id, p, None, answers[p.package_number]
                    )
            chunk = [(r, p) for r, p in chunk if r.parcel.parcel_id not in outcomes]
            response = next((answers[p.package_number] for _, p in chunk), None)  # one channel: one set of options
            if not chunk:
                return outcomes
        handover = self._handover(method, first.slot_id, response, shop_id)
        if isinstance(handover, str):
            return outcomes | {r.parcel.parcel_id: _refused(r.parcel.parcel_id, p, None, handover) for r, p in chunk}
        if len(chunk) == 1:
            request, package = chunk[0]
            body = {**_package_params(package), method: handover}
            try:
                self._call("POST", SHIP_PATH, shop_id, body=body)
            except ShopeeError as exc:
                return outcomes | {request.parcel.parcel_id: _refused(request.parcel.parcel_id, package, *_words(exc))}
            return outcomes | {request.parcel.parcel_id: _arranged(request.parcel.parcel_id, package)}
        body = {"package_list": [{"package_number": p.package_number} for _, p in chunk], method: handover}
        body |= _channel_fields(chunk[0][1])
        try:
            answer = self._call("POST", MASS_SHIP_PATH, shop_id, body=body).get("response") or {}
        except ShopeeError as exc:
            code, message = _words(exc)
            return outcomes | {r.parcel.parcel_id: _refused(r.parcel.parcel_id, p, code, message) for r, p in chunk}
        failed = _fail_reasons(answer)
        succeeded = {str(row.get("package_number")) for row in answer.get("success_list") or []}
        for request, p in chunk:
            parcel_id = request.parcel.parcel_id
            if p.package_number in succeeded:
                outcomes[parcel_id] = _arranged(parcel_id, p)
            else:
                reason = failed.get(p.package_number) or "shopee did not answer for this package"
                outcomes[parcel_id] = _refused(parcel_id, p, None, reason)
        return outcomes

    def _handover(self, method: str, slot_id: str | None, response: dict | None, shop_id: str | None) -> dict | str:
        """The ship_order / mass_ship_order `pickup` or `dropoff` object, or why there is none."""
        info = (response or {}).get("info_needed") or {}
        if method == "pickup":
            if slot_id is not None:
                return _pickup_of(slot_id)
            if "pickup" not in info:
                return "shopee offers no pickup for this package"
            return _earliest_pickup(response or {}) or "shopee named no pickup address"
        if "dropoff" not in info:
            return "shopee offers no drop-off for this package"
        return self._dropoff(set(info.get("dropoff") or []), response or {}, shop_id)

    def _dropoff(self, needed: set[str], response: dict, shop_id: str | None) -> dict | str:
        """What info_needed.dropoff asks for: the first branch Shopee offers, the sender's name."""
        if needed & {"tracking_no", "tracking_number", "slug"}:
            return f"shopee asks for {', '.join(sorted(needed))} to drop off: not supported for its own couriers"
        dropoff: dict[str, Any] = {}
        if "branch_id" in needed:
            branches = (response.get("dropoff") or {}).get("branch_list") or []
            if not branches:
                return "shopee asks for a drop-off branch but named none"
            dropoff["branch_id"] = int(branches[0]["branch_id"])
        if "sender_real_name" in needed:
            name = self._shop_name(shop_id)
            if not name:
                return "shopee asks for the sender's real name: set shopee/shop_name"
            dropoff["sender_real_name"] = name
        return dropoff

    def _update_pickup(self, request: ArrangeRequest, package: _Package) -> ArrangeOutcome:
        parcel_id, shop_id = request.parcel.parcel_id, request.parcel.shop_id
        try:
            if request.slot_id is not None:
                pickup = _pickup_of(request.slot_id)
            else:
                answer = self._parameters(shop_id, [package])[package.package_number]
                pickup = answer if isinstance(answer, str) else _earliest_pickup(answer) or "no pickup address"
            if isinstance(pickup, str):
                return _refused(parcel_id, package, None, pickup)
            if "pickup_time_id" not in pickup:  # update_shipping_order requires both
                return _refused(parcel_id, package, None, "shopee offers no pickup time to arrange again")
            self._call("POST", UPDATE_PATH, shop_id, body={**_package_params(package), "pickup": pickup})
        except _Busy as busy:
            return _busy_outcome(parcel_id, busy)
        except ShopeeError as exc:
            return _refused(parcel_id, package, *_words(exc))
        return _arranged(parcel_id, package)

    def _confirm_refusals(
        self, outcomes: dict[str, ArrangeOutcome], asked: list[tuple[ArrangeRequest, _Package]]
    ) -> None:
        """A refusal of a package Shopee now shows arranged (a repeat, a lost answer) is an arrangement:
        read the refused orders again and keep only the refusals they confirm."""
        refused = [
            (r, p)
            for r, p in asked
            if not outcomes[r.parcel.parcel_id].ok and not outcomes[r.parcel.parcel_id].retryable
        ]
        by_shop: dict[str | None, list[str]] = {}
        for request, package in refused:
            by_shop.setdefault(request.parcel.shop_id, []).append(package.order_sn)
        try:
            fresh = {shop: self._details(shop, sorted(set(sns)), refresh=True) for shop, sns in by_shop.items()}
        except _Busy as busy:  # unconfirmed: maybe arranged after all, so asked again later rather than refused
            for request, _ in refused:
                outcomes[request.parcel.parcel_id] = dataclasses.replace(
                    outcomes[request.parcel.parcel_id], error_code=busy.code, retryable=True
                )
            return
        for request, package in refused:
            detail = fresh[request.parcel.shop_id].get(package.order_sn) or {}
            status = next(
                (
                    p.get("logistics_status")
                    for p in detail.get("package_list") or []
                    if str(p.get("package_number")) == package.package_number
                ),
                None,
            )
            if status in ARRANGED:
                outcomes[request.parcel.parcel_id] = _arranged(request.parcel.parcel_id, package)

    def _split_where_needed(self, parcels: Sequence[ShipParcel]) -> tuple[dict[str, str], list[ShipParcel]]:
        """split_order for each order one of whose parcels shares its one package with a sibling; then the
        order is read again. (parcel id -> why its order could not be split, the parcels: those of a split
        order no longer name the package that was split)."""
        parcels = list(parcels)
        by_order: dict[tuple[str | None, str], list[ShipParcel]] = {}
        for parcel in parcels:
            if parcel.siblings:
                by_order.setdefault((parcel.shop_id, parcel.channel_order_id), []).append(parcel)
        refused: dict[str, str] = {}
        split: set[tuple[str | None, str]] = set()
        for shop_id in {shop for shop, _ in by_order}:
            self._details(shop_id, sorted(sn for shop, sn in by_order if shop == shop_id))
        for (shop_id, order_sn), group in by_order.items():
            detail = self._orders.get((shop_id, order_sn))
            parcel = next((p for p in group if detail and _needs_split(p, detail)), None)
            if parcel is None or detail is None:
                continue
            plan = _plan(parcel, detail)
            if isinstance(plan, str):
                refused.update(dict.fromkeys((p.parcel_id for p in group), plan))
                continue
            body = {"order_sn": order_sn, "package_list": [{"item_list": items} for items in plan]}
            try:
                self._call("POST", SPLIT_PATH, shop_id, body=body)
            except ShopeeError as exc:
                # A split made already (a lost answer, another worker) is as good as this one: look again.
                fresh = self._details(shop_id, [order_sn], refresh=True).get(order_sn)
                if fresh is None or any(_needs_split(p, fresh) for p in group) or len(_package_list(fresh)) < 2:
                    refused.update(dict.fromkeys((p.parcel_id for p in group), _words(exc)[1]))
                    continue
            else:
                self._details(shop_id, [order_sn], refresh=True)
            split.add((shop_id, order_sn))
        parcels = [
            dataclasses.replace(p, package_id=None) if (p.shop_id, p.channel_order_id) in split else p for p in parcels
        ]
        return refused, parcels

    def _shop_name(self, shop_id: str | None) -> str | None:
        """The sender's name for a drop-off that asks for one: the configured shopee/shop_name, else the shop's
        name from v2.shop.get_shop_info."""
        if shop_id not in self._shop_names:
            name = self.api.secrets.channel_secret("shopee", "shop_name")
            if not name:
                try:
                    answer = self._call("GET", SHOP_INFO_PATH, shop_id)
                except ShopeeError:
                    answer = {}
                name = answer.get("shop_name") or (answer.get("response") or {}).get("shop_name")
            if not name:
                return None
            self._shop_names[shop_id] = str(name)
        return self._shop_names[shop_id]

    # ------------------------------------------------------------ resi

    def resi(self, parcels: Sequence[ShipParcel]) -> dict[str, ResiOutcome]:
        """get_tracking_number for a lone parcel (by order_sn alone when its package is not known),
        get_mass_tracking_number for up to 50 packages. An empty tracking_number: not assigned yet."""
        outcomes: dict[str, ResiOutcome] = {}
        by_shop: dict[str | None, list[ShipParcel]] = {}
        for parcel in parcels:
            by_shop.setdefault(parcel.shop_id, []).append(parcel)
        for shop_id, group in by_shop.items():
            try:
                if len(group) == 1:
                    outcomes[group[0].parcel_id] = self._one_resi(group[0])
                    continue
                packages = self._packages(group, need_channel=False)
            except _Busy as busy:
                outcomes.update({p.parcel_id: ResiOutcome(p.parcel_id, error=busy.message) for p in group})
                continue
            known = []
            for parcel in group:
                package = packages[parcel.parcel_id]
                if isinstance(package, str):
                    outcomes[parcel.parcel_id] = ResiOutcome(parcel.parcel_id, error=package, retryable=False)
                else:
                    known.append((parcel, package))
            for chunk in _chunks(known, BATCH):
                try:
                    outcomes.update(self._mass_resi(shop_id, chunk))
                except _Busy as busy:
                    outcomes.update({p.parcel_id: ResiOutcome(p.parcel_id, error=busy.message) for p, _ in chunk})
        return outcomes

    def _one_resi(self, parcel: ShipParcel) -> ResiOutcome:
        params = {"order_sn": parcel.channel_order_id}
        if parcel.package_id:
            params["package_number"] = parcel.package_id
        package = self._known_package(parcel)
        try:
            response = self._call("GET", TRACKING_PATH, parcel.shop_id, params=params).get("response") or {}
        except ShopeeError as exc:
            return ResiOutcome(parcel.parcel_id, package_id=parcel.package_id, error=_words(exc)[1], retryable=False)
        return ResiOutcome(
            parcel.parcel_id,
            resi=str(response.get("tracking_number") or "") or None,
            carrier=package.carrier if package else None,
            package_id=parcel.package_id or (package.package_number if package else None),
        )

    def _mass_resi(self, shop_id: str | None, chunk: list[tuple[ShipParcel, _Package]]) -> dict[str, ResiOutcome]:
        body = {"package_list": [{"package_number": p.package_number} for _, p in chunk]}
        try:
            response = self._call("POST", MASS_TRACKING_PATH, shop_id, body=body).get("response") or {}
        except ShopeeError as exc:
            message = _words(exc)[1]
            return {
                parcel.parcel_id: ResiOutcome(parcel.parcel_id, error=message, retryable=False) for parcel, _ in chunk
            }
        failed = _fail_reasons(response)
        found = {str(row.get("package_number")): row for row in response.get("success_list") or []}
        outcomes = {}
        for parcel, package in chunk:
            row = found.get(package.package_number)
            if row is not None:
                resi = str(row.get("tracking_number") or "") or None
                outcomes[parcel.parcel_id] = ResiOutcome(
                    parcel.parcel_id, resi=resi, carrier=package.carrier, package_id=package.package_number
                )
            elif package.package_number in failed:
                outcomes[parcel.parcel_id] = ResiOutcome(
                    parcel.parcel_id,
                    package_id=package.package_number,
                    error=failed[package.package_number],
                    retryable=False,
                )
            else:
                outcomes[parcel.parcel_id] = ResiOutcome(
                    parcel.parcel_id, package_id=package.package_number, error="shopee did not answer for this package"
                )
        return outcomes

    # ------------------------------------------------------------ labels

    def labels(self, parcels: Sequence[ShipParcel]) -> dict[str, LabelOutcome]:
        """Shopee's airway bill per parcel: get_shipping_document_parameter (the type: thermal unless Shopee
        suggests the normal one), get_shipping_document_result (a document made earlier), create_shipping_document
        for the rest and its result (PROCESSING: pending), then download_shipping_document per parcel, kept whole.
        A parcel without its resi gets none yet: create_shipping_document takes the tracking number."""
        outcomes: dict[str, LabelOutcome] = {}
        with_resi = []
        for parcel in parcels:
            if parcel.resi:
                with_resi.append(parcel)
            else:
                outcomes[parcel.parcel_id] = LabelOutcome(
                    parcel.parcel_id, error="no tracking number yet", retryable=True
                )
        try:
            packages = self._packages(with_resi, need_channel=False)
        except _Busy as busy:
            return outcomes | {
                p.parcel_id: LabelOutcome(p.parcel_id, error=busy.message, retryable=True) for p in with_resi
            }
        known = []
        for parcel in with_resi:
            package = packages[parcel.parcel_id]
            if isinstance(package, str):
                outcomes[parcel.parcel_id] = LabelOutcome(parcel.parcel_id, error=package)
            else:
                known.append((parcel, package))
        by_shop: dict[str | None, list[tuple[ShipParcel, _Package]]] = {}
        for parcel, package in known:
            by_shop.setdefault(parcel.shop_id, []).append((parcel, package))
        for shop_id, group in by_shop.items():
            for chunk in _chunks(group, BATCH):
                try:
                    outcomes.update(self._labels(shop_id, chunk))
                except _Busy as busy:
                    outcomes.update(
                        {p.parcel_id: LabelOutcome(p.parcel_id, error=busy.message, retryable=True) for p, _ in chunk}
                    )
        return outcomes

    def _labels(self, shop_id: str | None, chunk: list[tuple[ShipParcel, _Package]]) -> dict[str, LabelOutcome]:
        outcomes: dict[str, LabelOutcome] = {}
        kinds: dict[str, str] = {}
        rows, refusal = self._rows(DOCUMENT_PARAMETER_PATH, shop_id, {"order_list": [_order_ref(p) for _, p in chunk]})
        for parcel, package in chunk:
            row = _row_for(rows, package, refusal)
            if isinstance(row, tuple):
                outcomes[parcel.parcel_id] = _label_refused(parcel.parcel_id, *row)
            else:
                kinds[parcel.parcel_id] = _document_type(row)
        asked = [(parcel, package) for parcel, package in chunk if parcel.parcel_id in kinds]
        statuses = self._document_statuses(shop_id, asked, kinds)
        # READY: made earlier; PROCESSING: being made. Anything else (never made, or a failed task) is made now.
        to_create = [(p, pkg) for p, pkg in asked if statuses[p.parcel_id][0] not in ("READY", "PROCESSING")]
        if to_create:
            orders = [
                {**_order_ref(pkg), "tracking_number": p.resi, "shipping_document_type": kinds[p.parcel_id]}
                for p, pkg in to_create
            ]
            rows, refusal = self._rows(CREATE_DOCUMENT_PATH, shop_id, {"order_list": orders})
            created = []
            for parcel, package in to_create:
                row = _row_for(rows, package, refusal)
                if isinstance(row, tuple):
                    outcomes[parcel.parcel_id] = _label_refused(parcel.parcel_id, *row)
                else:
                    created.append((parcel, package))
            statuses |= self._document_statuses(shop_id, created, kinds)
            asked = [(p, pkg) for p, pkg in asked if p.parcel_id not in outcomes]
        for parcel, package in asked:
            status, code, message = statuses[parcel.parcel_id]
            if status == "READY":
                outcomes[parcel.parcel_id] = self._download(parcel, package, kinds[parcel.parcel_id])
            elif status == "PROCESSING":
                outcomes[parcel.parcel_id] = LabelOutcome(parcel.parcel_id, pending=True)
            else:
                outcomes[parcel.parcel_id] = _label_refused(
                    parcel.parcel_id, code, message or "shopee could not make the label"
                )
        return outcomes

    def _document_statuses(
        self, shop_id: str | None, asked: list[tuple[ShipParcel, _Package]], kinds: dict[str, str]
    ) -> dict[str, tuple[str | None, str | None, str | None]]:
        """parcel id -> (READY / FAILED / PROCESSING or None, Shopee's error code, its words)."""
        if not asked:
            return {}
        orders = [
            {**_order_ref(package), "shipping_document_type": kinds[parcel.parcel_id]} for parcel, package in asked
        ]
        rows, refusal = self._rows(DOCUMENT_RESULT_PATH, shop_id, {"order_list": orders})
        statuses = {}
        for parcel, package in asked:
            row = _row_for(rows, package, refusal)
            if isinstance(row, tuple):
                statuses[parcel.parcel_id] = (None, *row)
            else:
                statuses[parcel.parcel_id] = (str(row.get("status") or "") or None, None, None)
        return statuses

    def _download(self, parcel: ShipParcel, package: _Package, kind: str) -> LabelOutcome:
        """download_shipping_document answers with the file, not JSON: asked here with the pool ShopeeApi's
        client uses (ChannelHttp.request only returns parsed JSON). One parcel a call, so each parcel gets
        its own label (a normal air waybill can hold several labels a page)."""
        body = {"shipping_document_type": kind, "order_list": [_order_ref(package)]}
        status, data = self._file(DOWNLOAD_PATH, parcel.shop_id, body)
        if status == 429 or status >= 500:
            return LabelOutcome(parcel.parcel_id, error=f"shopee answered {status}", retryable=True)
        if len(data) > MAX_DOCUMENT_BYTES:
            return LabelOutcome(parcel.parcel_id, error=f"shopee sent a document over {MAX_DOCUMENT_BYTES} bytes")
        if data.startswith(b"%PDF"):
            return LabelOutcome(parcel.parcel_id, pdf=data)
        if data.startswith(b"PK"):  # the shop prints thermal: a zip holding the PDF
            pdf = _pdf_in_zip(data)
            return (
                LabelOutcome(parcel.parcel_id, pdf=pdf)
                if pdf
                else LabelOutcome(parcel.parcel_id, error="shopee's zip held no PDF")
            )
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("error"):
            code, message = str(answer["error"]), str(answer.get("message") or answer["error"])
            return LabelOutcome(parcel.parcel_id, error=message, retryable=code in THROTTLED)
        return LabelOutcome(parcel.parcel_id, error=f"shopee sent no PDF (HTTP {status})")

    def _file(self, path: str, shop_id: str | None, body: dict) -> tuple[int, bytes]:
        """A signed POST whose answer is a file: (status, bytes), through the pool, limiter and deadline of
        ShopeeApi's client (one try: a failed download is asked again with the next labels call)."""
        http = self.api.http
        left = http.deadline.left()
        if left < MIN_CALL_S:
            raise DependencyError(f"shopee {path}: no time left in this invocation")
        http.limiter.wait()
        http.calls += 1
        self._calls += 1
        timeout = Timeout(connect=DOWNLOAD_TIMEOUT.connect_timeout, read=min(DOWNLOAD_TIMEOUT.read_timeout, left - 1.0))
        try:
            response = http.pool.request(
                "POST",
                f"{http.base}{path}?{urlencode(self._signed(path, shop_id))}",
                body=json.dumps(body).encode(),
                headers={"content-type": "application/json"},
                timeout=timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise DependencyError(f"shopee {path} unreachable: {type(exc).__name__}") from exc
        return response.status, bytes(response.data or b"")

    def _signed(self, path: str, shop_id: str | None) -> dict[str, Any]:
        """The query ShopeeApi.call signs a shop call with (partner_id, timestamp, access_token, shop_id, sign)."""
        api = self.api
        partner_id, key, token = api._setting("partner_id"), api._setting("partner_key"), api._setting("access_token")
        shop = shop_id or api._setting("shop_id")
        timestamp = int(api.clock())
        sign = shop_sign(key, partner_id, path, timestamp, token, shop)
        return {"partner_id": partner_id, "timestamp": timestamp, "access_token": token, "shop_id": shop, "sign": sign}

    # ------------------------------------------------------------ Shopee's calls and the orders' packages

    def _call(
        self, method: str, path: str, shop_id: str | None, params: dict | None = None, body: dict | None = None
    ) -> dict:
        """api.call, counted; Shopee's busy and throttling answers become _Busy."""
        self._calls += 1
        raw = json.dumps(body).encode() if body is not None else None
        try:
            return self.api.call(method, path, shop_id, params or {}, raw)
        except DependencyError as exc:
            # ShopeeApi.call raises "shopee <path> answered <status> <error>" for THROTTLED errors; an outage
            # the HTTP client gave up on ends otherwise ("... after 3 tries") and propagates.
            code = exc.message.rsplit(" ", 1)[-1]
            if code in THROTTLED:
                raise _Busy(code, exc.message) from exc
            raise

    def _rows(self, path: str, shop_id: str | None, body: dict) -> tuple[list[dict], tuple[str, str] | None]:
        """A document call's result_list, and Shopee's words when it refused the whole call.

        When every order of a document call fails, Shopee refuses the call (common.batch_api_all_failed) and
        still sends each order's fail_error and fail_message. ShopeeApi.call keeps only the refusal, so these
        calls are signed here and sent through its client (same retries, limiter and deadline) to keep the rows.
        """
        self._calls += 1
        status, answer = self.api.http.request(
            "POST",
            path,
            query=self._signed(path, shop_id),
            body=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            what=path,
        )
        answer = answer if isinstance(answer, dict) else {}
        error = str(answer.get("error") or "")
        if error in THROTTLED:
            raise _Busy(error, str(answer.get("message") or error))
        if status >= 500:
            raise DependencyError(f"shopee {path} answered {status} {error}")
        rows = [r for r in (answer.get("response") or {}).get("result_list") or [] if isinstance(r, dict)]
        if status >= 300 or error:
            return rows, (error, str(answer.get("message") or error or f"HTTP {status}"))
        return rows, None

    def _packages(self, parcels: Iterable[ShipParcel], need_channel: bool) -> dict[str, _Package | str]:
        """parcel id -> its Shopee package (from get_order_detail's package_list), or why it is not known.
        need_channel=False: a parcel that names its package needs no reading."""
        parcels = list(parcels)
        wanted: dict[str | None, set[str]] = {}
        for parcel in parcels:
            cached = self._orders.get((parcel.shop_id, parcel.channel_order_id))
            # A package the order read earlier did not hold: the order was split since.
            stale = cached is not None and bool(parcel.package_id) and isinstance(_package_of(parcel, cached), str)
            if (need_channel or not parcel.package_id) and (cached is None or stale):
                wanted.setdefault(parcel.shop_id, set()).add(parcel.channel_order_id)
        for shop_id, order_sns in wanted.items():
            self._details(shop_id, sorted(order_sns))
        found: dict[str, _Package | str] = {}
        for parcel in parcels:
            detail = self._orders.get((parcel.shop_id, parcel.channel_order_id))
            if detail is None and parcel.package_id and not need_channel:
                found[parcel.parcel_id] = _Package(parcel.channel_order_id, parcel.package_id)
            elif detail is None:
                found[parcel.parcel_id] = f"shopee does not know order {parcel.channel_order_id}"
            else:
                found[parcel.parcel_id] = _package_of(parcel, detail)
        return found

    def _known_package(self, parcel: ShipParcel) -> _Package | None:
        detail = self._orders.get((parcel.shop_id, parcel.channel_order_id))
        package = _package_of(parcel, detail) if detail else None
        return package if isinstance(package, _Package) else None

    def _details(self, shop_id: str | None, order_sns: list[str], refresh: bool = False) -> dict[str, dict]:
        """get_order_detail asked for package_list alone (no buyer data), 50 orders a call; an unknown order
        spoils its call, so that call is asked again an order at a time."""
        found: dict[str, dict] = {}
        for chunk in _chunks(order_sns, BATCH):
            if not refresh and all((shop_id, sn) in self._orders for sn in chunk):
                found.update({sn: self._orders[(shop_id, sn)] for sn in chunk})
                continue
            params = {"order_sn_list": ",".join(chunk), "response_optional_fields": "package_list"}
            try:
                answer = self._call("GET", DETAIL_PATH, shop_id, params=params)
            except ShopeeError:
                if len(chunk) > 1:
                    for order_sn in chunk:
                        found.update(self._details(shop_id, [order_sn], refresh))
                continue
            if len(self._orders) > MAX_CACHED_ORDERS:  # the instance lives as long as a warm function: keep it small
                self._orders.clear()
            for order in (answer.get("response") or {}).get("order_list") or []:
                if isinstance(order, dict) and order.get("order_sn"):
                    self._orders[(shop_id, str(order["order_sn"]))] = order
                    found[str(order["order_sn"])] = order
        return found


def logistics(api: ShopeeApi) -> ShopeeLogistics:
    return ShopeeLogistics(api)


# ------------------------------------------------------------ helpers


def _package_of(parcel: ShipParcel, detail: dict) -> _Package | str:
    """The parcel's package in the order: the one it names, the order's only one, or the one holding its lines."""
    packages = [p for p in detail.get("package_list") or [] if isinstance(p, dict) and p.get("package_number")]
    if parcel.package_id:
        chosen = [p for p in packages if str(p["package_number"]) == parcel.package_id]
        if not chosen:
            return f"shopee order {parcel.channel_order_id} has no package {parcel.package_id}"
    elif len(packages) == 1:
        chosen = packages
    else:
        chosen = _holding(parcel, packages)
    if len(chosen) != 1:
        return f"shopee order {parcel.channel_order_id} has {len(packages)} packages: name this parcel's package"
    package = chosen[0]
    items = package.get("item_list") or []
    location = items[0].get("product_location_id") if items and isinstance(items[0], dict) else None
    channel_id = package.get("logistics_channel_id")
    return _Package(
        order_sn=parcel.channel_order_id,
        package_number=str(package["package_number"]),
        channel_id=int(channel_id) if channel_id else None,
        location=str(location) if location else None,
        carrier=str(package.get("shipping_carrier") or "") or None,
        status=str(package.get("logistics_status") or "") or None,
    )


def _line_ids(packages: list[dict]) -> list[list[str]]:
    """Each package's item rows as the OMS names its lines (channels/shopee/normalizer): "<order_item_id or
    item_id>-<model_id or 0>", a repeat of the same pair told apart by "-2", "-3" in the order's sequence."""
    seen: dict[str, int] = {}
    named = []
    for package in packages:
        ids = []
        for item in package.get("item_list") or []:
            line_id = f"{item.get('order_item_id') or item.get('item_id')}-{item.get('model_id') or 0}"
            seen[line_id] = seen.get(line_id, 0) + 1
            ids.append(line_id if seen[line_id] == 1 else f"{line_id}-{seen[line_id]}")
        named.append(ids)
    return named


def _package_list(detail: dict) -> list[dict]:
    return [p for p in detail.get("package_list") or [] if isinstance(p, dict) and p.get("package_number")]


def _contents(detail: dict) -> list[tuple[dict, dict[str, int], dict[str, dict]]]:
    """Per package: (the package, line id -> units, line id -> its item row)."""
    packages = _package_list(detail)
    found = []
    for package, ids in zip(packages, _line_ids(packages), strict=True):
        rows = [i if isinstance(i, dict) else {} for i in package.get("item_list") or []]
        units = {line_id: int(row.get("model_quantity") or 0) for line_id, row in zip(ids, rows, strict=True)}
        found.append((package, units, dict(zip(ids, rows, strict=True))))
    return found


def _wants(parcel: ShipParcel) -> dict[str, int]:
    return dict(zip(parcel.line_ids, parcel.line_quantities, strict=False))


def _needs_split(parcel: ShipParcel, detail: dict) -> bool:
    """The order has one package and it holds more than this parcel's items."""
    contents = _contents(detail)
    return len(contents) == 1 and contents[0][1] != _wants(parcel) and not isinstance(_plan(parcel, detail), str)


def _plan(parcel: ShipParcel, detail: dict) -> list[list[dict]] | str:
    """split_order's item lists, a package per parcel of the order (in one fixed order, whoever asks), or why
    the order's items cannot be shared out so."""
    contents = _contents(detail)
    units: dict[str, int] = {}
    rows: dict[str, dict] = {}
    for _, held, items in contents:
        for line_id, count in held.items():
            units[line_id] = units.get(line_id, 0) + count
        rows |= items
    everyone = sorted([(tuple(parcel.line_ids), tuple(parcel.line_quantities)), *parcel.siblings])
    given: dict[str, int] = {}
    plan = []
    for line_ids, quantities in everyone:
        items = []
        for line_id, count in zip(line_ids, quantities, strict=False):
            if line_id not in rows:
                return f"shopee order {parcel.channel_order_id} has no item {line_id}: its parcels do not match it"
            given[line_id] = given.get(line_id, 0) + count
            row = rows[line_id]
            item = {key: row.get(key) or 0 for key in ("item_id", "model_id", "order_item_id", "promotion_group_id")}
            if count != units[line_id]:
                item["model_quantity"] = count  # a unit-level split: whitelisted shops only (see the module's doc)
            items.append(item)
        plan.append(items)
    if given != units:
        return f"shopee order {parcel.channel_order_id}: its parcels do not hold exactly its items, it cannot be split"
    return plan


def _holding(parcel: ShipParcel, packages: list[dict]) -> list[dict]:
    """Of a split order's packages, the one holding exactly this parcel's items (of twins, one not arranged
    yet first), else the only one holding any of them."""
    contents = _contents({"package_list": packages})
    wanted = _wants(parcel)
    exact = [package for package, held, _ in contents if held == wanted]
    exact.sort(key=lambda p: p.get("logistics_status") not in (None, "", "LOGISTICS_READY"))
    if exact:
        return exact[:1]
    return [package for package, held, _ in contents if set(held) & set(wanted)]


def _batches(
    pairs: list[tuple[Any, _Package]], extra_key: Any = None
) -> Iterator[tuple[str | None, list[tuple[Any, _Package]]]]:
    """(shop, up to 50 pairs) that one mass call may take: one shop, logistics channel and location (and
    extra_key of the first element). A package of unknown channel goes alone."""
    groups: dict[tuple, list[tuple[Any, _Package]]] = {}
    for index, (first, package) in enumerate(pairs):
        parcel = first.parcel if isinstance(first, ArrangeRequest) else first
        same = (package.channel_id, package.location) if package.channel_id else ("alone", index)
        key = (parcel.shop_id, *same, *(extra_key(first) if extra_key else ()))
        groups.setdefault(key, []).append((first, package))
    for key, members in groups.items():
        for chunk in _chunks(members, BATCH):
            yield key[0], chunk


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _package_params(package: _Package) -> dict[str, str]:
    return {"order_sn": package.order_sn, "package_number": package.package_number}


def _order_ref(package: _Package) -> dict[str, str]:
    return _package_params(package)


def _channel_fields(package: _Package) -> dict[str, Any]:
    """Named outright: unnamed, Shopee takes the first package's, and the others of another would fail."""
    fields: dict[str, Any] = {}
    if package.channel_id:
        fields["logistics_channel_id"] = package.channel_id
    if package.location:
        fields["product_location_id"] = package.location
    return fields


def _fail_reasons(response: dict) -> dict[str, str]:
    return {
        str(row.get("package_number")): str(row.get("fail_reason") or row.get("fail_message") or "refused by shopee")
        for row in response.get("fail_list") or []
        if isinstance(row, dict)
    }


def _row_for(rows: list[dict], package: _Package, refusal: tuple[str, str] | None) -> dict | tuple[str, str]:
    """The result_list row for the package, or (Shopee's code, its words) when it failed."""
    row = next((r for r in rows if str(r.get("package_number") or "") == package.package_number), None)
    if row is None:
        row = next((r for r in rows if r.get("order_sn") == package.order_sn and not r.get("package_number")), None)
    if row is not None and row.get("fail_error"):
        return str(row["fail_error"]), str(row.get("fail_message") or row["fail_error"])
    if row is not None:
        return row
    return refusal or ("", "shopee did not answer for this package")


def _document_type(row: dict) -> str:
    """Thermal (one label a page) unless Shopee suggests the normal air waybill; a type Shopee offers always."""
    suggested = str(row.get("suggest_shipping_document_type") or "")
    selectable = [str(t) for t in row.get("selectable_shipping_document_type") or []]
    if suggested == NORMAL:
        return NORMAL
    if THERMAL in selectable or not selectable:
        return THERMAL
    return suggested or selectable[0]


def _words(exc: ShopeeError) -> tuple[str, str]:
    """(Shopee's error code, its message): ShopeeError keeps the message only inside its text."""
    message = getattr(exc, "message", None) or str(exc).partition(": ")[2]
    return exc.error, message or exc.error


def _options(parcel_id: str, package: _Package, response: dict) -> HandoverOptions:
    info = response.get("info_needed") or {}
    addresses = (response.get("pickup") or {}).get("address_list") or []
    slots = tuple(
        _slot(address, slot)
        for address in addresses
        if isinstance(address, dict)
        for slot in address.get("time_slot_list") or []
        if isinstance(slot, dict) and slot.get("pickup_time_id")
    )
    return HandoverOptions(
        parcel_id,
        pickup="pickup" in info,  # a method Shopee lists (even with nothing to fill in) is one it allows
        dropoff="dropoff" in info,
        slots=slots,
        package_id=package.package_number,
        carrier=package.carrier,
    )


def _slot(address: dict, slot: dict) -> PickupSlot:
    """A pickup time slot for people: "Sel 8 Des 13:00-17:00 WIB, Jakarta Timur". Shopee gives the slot's
    `date` (a timestamp) and, for some channels, a `time_text`; a range in it sets start and end."""
    start = datetime.fromtimestamp(int(slot["date"]), WIB) if slot.get("date") else None
    end = None
    hours = ""
    match = TIME_RANGE.search(str(slot.get("time_text") or ""))
    if start and match:
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start = start.replace(hour=h1, minute=m1, second=0)
        end = start.replace(hour=h2, minute=m2)
        end = end if end > start else None
        hours = f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d} WIB"
    elif start and (start.hour or start.minute):
        hours = f"{start:%H:%M} WIB"
    elif slot.get("time_text"):
        hours = str(slot["time_text"])
    day = f"{DAYS[start.weekday()]} {start.day} {MONTHS[start.month - 1]}" if start else ""
    when = " ".join(part for part in (day, hours) if part) or str(slot["pickup_time_id"])
    place = str(address.get("city") or address.get("address") or "")
    return PickupSlot(
        slot_id=f"{address.get('address_id')}:{slot['pickup_time_id']}",
        label=f"{when}, {place}" if place else when,
        start=start,
        end=end,
    )


def _pickup_of(slot_id: str) -> dict | str:
    address_id, _, pickup_time_id = slot_id.partition(":")
    if not address_id.isdigit() or not pickup_time_id:
        return f"not a shopee pickup slot: {slot_id}"
    return {"address_id": int(address_id), "pickup_time_id": pickup_time_id}


def _earliest_pickup(response: dict) -> dict | None:
    """The pickup address Shopee flags for pickup (else the default, else the first) and its earliest slot;
    without slots the address alone (Shopee then picks the time)."""
    addresses = [a for a in (response.get("pickup") or {}).get("address_list") or [] if isinstance(a, dict)]
    if not addresses:
        return None
    address = next(
        (
            a
            for flag in ("pickup_address", "default_address")
            for a in addresses
            if flag in (a.get("address_flag") or [])
        ),
        addresses[0],
    )
    pickup: dict[str, Any] = {"address_id": int(address["address_id"])}
    slots = [s for s in address.get("time_slot_list") or [] if isinstance(s, dict) and s.get("pickup_time_id")]
    if slots:
        pickup["pickup_time_id"] = str(min(slots, key=lambda s: int(s.get("date") or 0))["pickup_time_id"])
    return pickup


def _arranged(parcel_id: str, package: _Package) -> ArrangeOutcome:
    return ArrangeOutcome(parcel_id, ok=True, package_id=package.package_number, carrier=package.carrier)


def _refused(parcel_id: str, package: _Package, code: str | None, message: str) -> ArrangeOutcome:
    return ArrangeOutcome(
        parcel_id,
        ok=False,
        package_id=package.package_number,
        carrier=package.carrier,
        error_code=code or None,
        message=message,
    )


def _busy_outcome(parcel_id: str, busy: _Busy) -> ArrangeOutcome:
    return ArrangeOutcome(parcel_id, ok=False, error_code=busy.code, message=busy.message, retryable=True)


def _label_refused(parcel_id: str, code: str | None, message: str) -> LabelOutcome:
    # "The package can not print now" while the courier's data is not in yet (seen as "... not yet ready")
    # passes; every other refusal is final.
    transient = code == "logistics.package_can_not_print" and "not yet ready" in message.lower()
    return LabelOutcome(parcel_id, error=message, retryable=transient or (code or "") in THROTTLED)


def _pdf_in_zip(data: bytes) -> bytes | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.filename.lower().endswith(".pdf") and info.file_size <= MAX_DOCUMENT_BYTES:
                    return archive.read(info)
    except zipfile.BadZipFile:
        return None
    return None
