"""TikTok Shop shipping on the platform's own couriers ("TikTok Shipping"), API version 202309.
Tokopedia storefronts run on the same API, so this adapter names no channel itself: it speaks only
through TiktokApi.call and takes the channel's name from the parcels.

The calls, as the vendor documents them (partner.tiktokshop.com/docv2/page/...):
  get-package-handover-time-slots-202309  GET  /fulfillment/202309/packages/{package_id}/handover_time_slots
      data.can_pickup, data.can_drop_off, data.pickup_slots[{start_time, end_time, avaliable}] (Unix s;
      "avaliable" is the vendor's own spelling)
  batch-ship-packages-202309  POST /fulfillment/202309/packages/ship
      {"packages": [{id, handover_method: PICKUP|DROP_OFF, pickup_slot: {start_time, end_time}}]};
      code 0 can still carry data.errors[{code, message, detail.package_id}]: read each
  ship-package-202309         POST /fulfillment/202309/packages/{package_id}/ship  (one package)
  get-package-detail-202309   GET  /fulfillment/202309/packages/{package_id}
      data.package_status (PROCESSING = arranged, FULFILLING, COMPLETED, CANCELLED), data.tracking_number,
      data.shipping_provider_name
  get-package-shipping-document-202309  GET .../packages/{package_id}/shipping_documents
      ?document_type=SHIPPING_LABEL&document_size=A6 -> data.doc_url (valid 24 hours), data.tracking_number

The package of a parcel is ShipParcel.package_id, else the order's (Get Order Detail, packages[].id,
and line_items[].package_id to pick the package holding the parcel's lines).

One order, several parcels (ShipParcel.siblings): a paid order has one package until the seller splits it,
and shipping a package ships every unit in it. So before the options and the arrange of such a parcel:
  split-orders-202309         POST /fulfillment/202309/orders/{order_id}/split
      {"splittable_groups": [{id, order_line_item_ids}]}: every line item (one row a unit) in one group;
      the order must be AWAITING_SHIPMENT with no unit cancelled or being cancelled (Seller University,
      "Splitting Orders into Separate Packages"); a refusal is that parcel's, in TikTok's words
The OMS line (one per seller_sku and prices, its id the group's smallest row id: channels/tiktok/normalizer)
is mapped back to as many unit rows of its group as the parcel holds; the parcels are put in one fixed
order, so every parcel of the order computes the same groups. An order already split so that a package
holds exactly this parcel's units is not split again (a retry, the sibling's arrange).

Every call goes through the client, one at a time: its rate limiter keeps within TikTok's 50 requests
a second per API and shop, so nothing here fans out in threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from oms.adapters.marketplace_api.documents import DocumentExpired, fetch_document
from oms.adapters.marketplace_api.tiktok import DETAIL_PATH, IDS_PER_CALL, THROTTLED, TiktokApi, TiktokError
from oms.domain.clock import WIB
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

SLOTS_PATH = "/fulfillment/202309/packages/{package_id}/handover_time_slots"
SHIP_ONE_PATH = "/fulfillment/202309/packages/{package_id}/ship"
SHIP_BATCH_PATH = "/fulfillment/202309/packages/ship"
PACKAGE_PATH = "/fulfillment/202309/packages/{package_id}"
DOCUMENTS_PATH = "/fulfillment/202309/packages/{package_id}/shipping_documents"
SPLIT_PATH = "/fulfillment/202309/orders/{order_id}/split"
# Batch Ship Packages states no limit on its page; 50 is the ceiling TikTok sets on its other list
# inputs (order ids per Get Order Detail, page_size of Search Package). Should a batch be refused as a
# whole, each package is shipped alone (see _ship), so a lower limit costs calls, not parcels.
SHIP_BATCH = 50
ARRANGED = frozenset({"PROCESSING", "FULFILLING", "COMPLETED"})  # package_status once shipping was arranged
LABEL = {"document_type": "SHIPPING_LABEL", "document_size": "A6"}  # one A6 label a page, the thermal size

_DAYS = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")

Fetch = Callable[[str], bytes]
T = TypeVar("T")


@dataclass(frozen=True)
class _Package:
    """Where a parcel stands before any shipping call: its package, or why it has none."""

    package_id: str | None
    carrier: str | None = None  # the order's shipping provider, when the order detail was read
    code: str | None = None
    error: str | None = None
    retryable: bool = False


class TiktokLogistics:
    def __init__(self, api: TiktokApi, fetch: Fetch = fetch_document) -> None:
        self.api = api
        self.fetch = fetch
        self._calls = 0

    def calls(self) -> int:
        return self._calls

    def _call(self, method: str, path: str, params: dict[str, str], body: dict | None = None) -> dict:
        self._calls += 1
        return self.api.call(method, path, params, body)

    # --- handover options ------------------------------------------------------------------------

    def handover_options(self, parcels: Sequence[ShipParcel]) -> dict[str, HandoverOptions]:
        packages = self._packages(parcels, split=True)
        answers: dict[str, dict | TiktokError] = {}  # package id -> its slots, asked once
        options: dict[str, HandoverOptions] = {}
        for parcel in parcels:
            package = packages[parcel.parcel_id]
            if package.package_id is None:
                options[parcel.parcel_id] = HandoverOptions(
                    parcel.parcel_id, carrier=package.carrier, error=package.error
                )
                continue
            if package.package_id not in answers:
                # No retryable flag on HandoverOptions: an outage here is raised, and nothing is lost by it.
                try:
                    path = SLOTS_PATH.format(package_id=package.package_id)
                    answers[package.package_id] = self._call("GET", path, {}).get("data") or {}
                except TiktokError as exc:
                    answers[package.package_id] = exc
            answer = answers[package.package_id]
            if isinstance(answer, TiktokError):
                options[parcel.parcel_id] = HandoverOptions(
                    parcel.parcel_id, package_id=package.package_id, carrier=package.carrier, error=_words(answer)
                )
                continue
            options[parcel.parcel_id] = HandoverOptions(
                parcel.parcel_id,
                pickup=bool(answer.get("can_pickup")),
                dropoff=bool(answer.get("can_drop_off")),
                slots=_slots(answer),
                package_id=package.package_id,
                carrier=package.carrier,
            )
        return options

    # --- arrange -----------------------------------------------------------------------------------

    def arrange(self, requests: Sequence[ArrangeRequest]) -> dict[str, ArrangeOutcome]:
        """Ship Package for each parcel: PICKUP in a slot (the earliest offered when none is named) or
        DROP_OFF, many packages to a Batch Ship Packages call. A package TikTok already counts as arranged
        (its refusal, then Get Package Detail says PROCESSING or later) is ok: a retried arrange is not a
        failure. Arranging again (the courier's pickup failed) ships the package again with the new slot."""
        packages = self._packages([request.parcel for request in requests], split=True)
        outcomes: dict[str, ArrangeOutcome] = {}
        entries: dict[str, dict] = {}  # package id -> its entry in the ship call (one per package)
        asked: dict[str, list[ArrangeRequest]] = {}  # package id -> the requests it answers
        for request in requests:
            parcel_id = request.parcel.parcel_id
            package = packages[parcel_id]
            if package.package_id is None:
                outcomes[parcel_id] = ArrangeOutcome(
                    parcel_id, ok=False, error_code=package.code, message=package.error, retryable=package.retryable
                )
                continue
            if package.package_id not in entries:
                entry = self._entry(request, package.package_id)
                if isinstance(entry, ArrangeOutcome):
                    outcomes[parcel_id] = entry
                    continue
                entries[package.package_id] = entry
            asked.setdefault(package.package_id, []).append(request)

        outage: str | None = None  # TikTok became unreachable after some packages were shipped
        shipped_any = False
        for chunk in _chunks(list(entries.values()), SHIP_BATCH):
            refused: dict[str, tuple[object, str]] = {}
            if outage is None:
                try:
                    refused = self._ship(chunk)
                    shipped_any = True
                except DependencyError as exc:
                    if not shipped_any:
                        raise  # nothing was shipped: the vendor is down, say so whole
                    outage = exc.message  # keep what was shipped; the rest is for later
            for entry in chunk:
                for request in asked[entry["id"]]:
                    outcome = self._outcome(request, entry["id"], packages[request.parcel.parcel_id], refused, outage)
                    outcomes[request.parcel.parcel_id] = outcome
        return outcomes

    def _outcome(
        self,
        request: ArrangeRequest,
        package_id: str,
        package: _Package,
        refused: dict[str, tuple[object, str]],
        outage: str | None,
    ) -> ArrangeOutcome:
        parcel_id = request.parcel.parcel_id
        if outage is not None:
            return ArrangeOutcome(parcel_id, ok=False, package_id=package_id, message=outage, retryable=True)
        if package_id in refused:
            return self._refusal(request, package_id, refused[package_id])
        return ArrangeOutcome(parcel_id, ok=True, package_id=package_id, carrier=package.carrier)

    def _entry(self, request: ArrangeRequest, package_id: str) -> dict | ArrangeOutcome:
        """The package's entry in Ship Package: {id, handover_method, pickup_slot}, or why there is none."""
        parcel_id = request.parcel.parcel_id
        if request.method == "dropoff":
            return {"id": package_id, "handover_method": "DROP_OFF"}
        if request.slot_id:
            slot = _parse_slot(request.slot_id)
            if slot is None:
                return ArrangeOutcome(parcel_id, ok=False, package_id=package_id, message="not a TikTok pickup slot")
        else:
            try:
                data = self._call("GET", SLOTS_PATH.format(package_id=package_id), {}).get("data") or {}
            except TiktokError as exc:
                return ArrangeOutcome(
                    parcel_id, ok=False, package_id=package_id, error_code=str(exc.code), message=_words(exc)
                )
            offered = _slots(data)  # earliest first
            if not data.get("can_pickup") or not offered:
                return ArrangeOutcome(parcel_id, ok=False, package_id=package_id, message="no pickup slot offered")
            slot = _parse_slot(offered[0].slot_id)
        pickup_slot = {"start_time": slot[0], "end_time": slot[1]}
        return {"id": package_id, "handover_method": "PICKUP", "pickup_slot": pickup_slot}

    def _ship(self, chunk: list[dict]) -> dict[str, tuple[object, str]]:
        """Ship the packages; package id -> (code, message) for each one TikTok refused."""
        refused: dict[str, tuple[object, str]] = {}
        if len(chunk) == 1:
            entry = chunk[0]
            body = {key: value for key, value in entry.items() if key != "id"}
            try:
                self._call("POST", SHIP_ONE_PATH.format(package_id=entry["id"]), {}, body)
            except TiktokError as exc:
                refused[entry["id"]] = (exc.code, _words(exc))
            return refused
        try:
            data = self._call("POST", SHIP_BATCH_PATH, {}, {"packages": chunk}).get("data") or {}
        except TiktokError:
            # The whole batch was refused (one bad entry can spoil it): each package alone names its fault.
            for entry in chunk:
                refused.update(self._ship([entry]))
            return refused
        unnamed: tuple[object, str] | None = None
        for error in data.get("errors") or []:
            if not isinstance(error, dict):
                continue
            package_id = str((error.get("detail") or {}).get("package_id") or "")
            words = (error.get("code"), str(error.get("message") or ""))
            if package_id:
                refused[package_id] = words
            else:
                unnamed = words
        if unnamed is not None:
            # An error naming no package may concern any of the others: each is checked (see _refusal).
            for entry in chunk:
                refused.setdefault(entry["id"], unnamed)
        return refused

    def _refusal(self, request: ArrangeRequest, package_id: str, refused: tuple[object, str]) -> ArrangeOutcome:
        code, message = refused
        parcel_id = request.parcel.parcel_id
        if code in THROTTLED:
            return ArrangeOutcome(
                parcel_id, ok=False, package_id=package_id, error_code=str(code), message=message, retryable=True
            )
        if not request.again:
            # "Already shipped" comes under several codes; the package's own status says it plainly.
            try:
                detail = self._detail_or_none(package_id)
            except DependencyError:  # cannot tell now whether it was shipped before: ask again later
                return ArrangeOutcome(
                    parcel_id, ok=False, package_id=package_id, error_code=_code(code), message=message, retryable=True
                )
            if detail is not None and detail.get("package_status") in ARRANGED:
                return ArrangeOutcome(
                    parcel_id,
                    ok=True,
                    package_id=package_id,
                    resi=str(detail.get("tracking_number") or "") or None,
                    carrier=str(detail.get("shipping_provider_name") or "") or None,
                )
        return ArrangeOutcome(parcel_id, ok=False, package_id=package_id, error_code=_code(code), message=message)

    def _detail_or_none(self, package_id: str) -> dict | None:
        try:
            return self._call("GET", PACKAGE_PATH.format(package_id=package_id), {}).get("data") or {}
        except TiktokError:
            return None

    # --- resi --------------------------------------------------------------------------------------

    def resi(self, parcels: Sequence[ShipParcel]) -> dict[str, ResiOutcome]:
        packages = self._packages(parcels)

        def ask(parcel: ShipParcel, package_id: str) -> ResiOutcome:
            try:
                detail = self._call("GET", PACKAGE_PATH.format(package_id=package_id), {}).get("data") or {}
            except TiktokError as exc:
                return ResiOutcome(parcel.parcel_id, package_id=package_id, error=_words(exc), retryable=False)
            if detail.get("package_status") == "CANCELLED":
                return ResiOutcome(
                    parcel.parcel_id, package_id=package_id, error="the package was cancelled", retryable=False
                )
            return ResiOutcome(
                parcel.parcel_id,
                resi=str(detail.get("tracking_number") or "") or None,  # empty: not assigned yet
                carrier=str(detail.get("shipping_provider_name") or "") or None,
                package_id=package_id,
            )

        def without(parcel: ShipParcel, package: _Package) -> ResiOutcome:
            return ResiOutcome(parcel.parcel_id, error=package.error, retryable=package.retryable)

        def later(parcel: ShipParcel, package_id: str, why: str) -> ResiOutcome:
            return ResiOutcome(parcel.parcel_id, package_id=package_id, error=why, retryable=True)

        return _each_package(parcels, packages, ask, without, later)

    # --- labels ------------------------------------------------------------------------------------

    def labels(self, parcels: Sequence[ShipParcel]) -> dict[str, LabelOutcome]:
        """Get Package Shipping Document (SHIPPING_LABEL, A6), and the PDF behind its doc_url at once; a
        link that has run out already is asked for once more."""
        packages = self._packages(parcels)

        def ask(parcel: ShipParcel, package_id: str) -> LabelOutcome:
            path = DOCUMENTS_PATH.format(package_id=package_id)
            for _ in range(2):
                try:
                    data = self._call("GET", path, dict(LABEL)).get("data") or {}
                except TiktokError as exc:
                    return LabelOutcome(parcel.parcel_id, error=_words(exc))
                url = str(data.get("doc_url") or "")
                if not url:
                    return LabelOutcome(parcel.parcel_id, pending=True)
                try:
                    pdf = self.fetch(url)
                except DocumentExpired:
                    continue
                except DependencyError as exc:  # the document host, not the API: this parcel only
                    return LabelOutcome(parcel.parcel_id, error=exc.message, retryable=True)
                if not pdf.startswith(b"%PDF"):
                    return LabelOutcome(parcel.parcel_id, error="the label link gave no PDF", retryable=True)
                return LabelOutcome(parcel.parcel_id, pdf=pdf)
            return LabelOutcome(parcel.parcel_id, error="the label link had run out twice", retryable=True)

        def without(parcel: ShipParcel, package: _Package) -> LabelOutcome:
            return LabelOutcome(parcel.parcel_id, error=package.error, retryable=package.retryable)

        def later(parcel: ShipParcel, _package_id: str, why: str) -> LabelOutcome:
            return LabelOutcome(parcel.parcel_id, error=why, retryable=True)

        return _each_package(parcels, packages, ask, without, later)

    def ready_to_ship(self, parcels: Sequence[ShipParcel]) -> dict[str, str | None]:
        return {}  # arranging is the whole handover on TikTok Shop: no separate ready-to-ship call

    # --- the parcels' packages -----------------------------------------------------------------------

    def _packages(self, parcels: Sequence[ShipParcel], split: bool = False) -> dict[str, _Package]:
        """Each parcel's package. split=True (options, arrange): a parcel with live siblings is checked
        against the order, whose one package is first split into one per parcel when it holds theirs too."""
        read = [p for p in parcels if not p.package_id or (split and p.siblings)]
        found = {p.parcel_id: _Package(p.package_id) for p in parcels if p not in read}
        orders = self._orders(sorted({p.channel_order_id for p in read}))
        by_order: dict[str, list[ShipParcel]] = {}
        for parcel in read:
            by_order.setdefault(parcel.channel_order_id, []).append(parcel)
        for order_id, group in by_order.items():
            order = orders.get(order_id)
            if isinstance(order, dict) and split:
                order, refused = self._split_if_needed(group, order)
                if refused is not None:
                    found.update({p.parcel_id: refused for p in group})
                    continue
            for parcel in group:
                if isinstance(order, TiktokError):
                    found[parcel.parcel_id] = _Package(None, code=_code(order.code), error=_words(order))
                elif order is None:
                    message = f"{parcel.channel.value} does not know order {parcel.channel_order_id}"
                    found[parcel.parcel_id] = _Package(None, error=message)
                elif split and parcel.siblings:
                    found[parcel.parcel_id] = _own_package(parcel, order)
                elif parcel.package_id:
                    found[parcel.parcel_id] = _Package(parcel.package_id)
                else:
                    found[parcel.parcel_id] = _package_of(parcel, order)
        return found

    def _split_if_needed(
        self, group: list[ShipParcel], order: dict
    ) -> tuple[dict | TiktokError | None, _Package | None]:
        """Split Orders when one of the parcels shares its package with a sibling; then the order read again.
        (the order as it now stands, None) or (None, the refusal every parcel of the order gets)."""
        parcel = next((p for p in group if p.siblings and _needs_split(p, order)), None)
        if parcel is None:
            return order, None
        plan = _plan(parcel, order)
        carrier = str(order.get("shipping_provider") or "") or None
        if isinstance(plan, str):
            return None, _Package(None, carrier=carrier, error=plan)
        groups = [{"id": str(n + 1), "order_line_item_ids": rows} for n, rows in enumerate(plan[0])]
        path = SPLIT_PATH.format(order_id=parcel.channel_order_id)
        try:
            self._call("POST", path, {}, {"splittable_groups": groups})
        except TiktokError as exc:
            return None, _Package(None, carrier=carrier, code=_code(exc.code), error=_words(exc))
        return self._orders([parcel.channel_order_id]).get(parcel.channel_order_id), None

    def _orders(self, order_ids: list[str]) -> dict[str, dict | TiktokError]:
        """Get Order Detail, 50 ids a call; a refused batch is asked again id by id, so one unknown
        order does not hide the others."""
        found: dict[str, dict | TiktokError] = {}
        for chunk in _chunks(order_ids, IDS_PER_CALL):
            try:
                answer = self._call("GET", DETAIL_PATH, {"ids": ",".join(chunk)})
            except TiktokError as exc:
                if len(chunk) == 1:
                    found[chunk[0]] = exc
                else:
                    for order_id in chunk:
                        found.update(self._orders([order_id]))
                continue
            for order in (answer.get("data") or {}).get("orders") or []:
                if isinstance(order, dict) and order.get("id"):
                    found[str(order["id"])] = order
        return found


def logistics(api: TiktokApi, fetch: Fetch = fetch_document) -> TiktokLogistics:
    return TiktokLogistics(api, fetch)


# --- helpers -------------------------------------------------------------------------------------------


def _each_package(
    parcels: Sequence[ShipParcel],
    packages: dict[str, _Package],
    ask: Callable[[ShipParcel, str], T],
    without: Callable[[ShipParcel, _Package], T],
    later: Callable[[ShipParcel, str, str], T],
) -> dict[str, T]:
    """One answer per parcel, a call per package. An outage on the first call is the vendor's and is
    raised; after answers were had, the remaining parcels are marked for later instead of losing them."""
    outcomes: dict[str, T] = {}
    answered = False
    outage: str | None = None
    for parcel in parcels:
        package = packages[parcel.parcel_id]
        if package.package_id is None:
            outcomes[parcel.parcel_id] = without(parcel, package)
        elif outage is not None:
            outcomes[parcel.parcel_id] = later(parcel, package.package_id, outage)
        else:
            try:
                outcomes[parcel.parcel_id] = ask(parcel, package.package_id)
                answered = True
            except DependencyError as exc:
                if not answered:
                    raise
                outage = exc.message
                outcomes[parcel.parcel_id] = later(parcel, package.package_id, outage)
    return outcomes


def _package_of(parcel: ShipParcel, order: dict) -> _Package:
    """The order's package holding the parcel's lines (the only one, when the order was not split)."""
    carrier = str(order.get("shipping_provider") or "") or None
    package_ids = [str(p["id"]) for p in order.get("packages") or [] if isinstance(p, dict) and p.get("id")]
    if not package_ids:
        # Unpaid and on-hold orders have no package yet (TikTok makes it once the order may be shipped).
        status = order.get("status") or "unknown"
        message = f"{parcel.channel.value} order {parcel.channel_order_id} has no package yet (status {status})"
        return _Package(None, carrier=carrier, error=message, retryable=status in ("UNPAID", "ON_HOLD"))
    if len(package_ids) == 1 or not parcel.line_ids:
        return _Package(package_ids[0], carrier=carrier)
    lines: dict[str, set[str]] = {}
    for row in order.get("line_items") or []:
        if isinstance(row, dict) and row.get("package_id"):
            lines.setdefault(str(row["package_id"]), set()).add(str(row.get("id")))
    wanted = set(parcel.line_ids)
    exact = [p for p in package_ids if lines.get(p) == wanted]
    overlap = {p: len(lines.get(p, set()) & wanted) for p in package_ids}
    overlapping = sorted((p for p in package_ids if overlap[p]), key=lambda p: -overlap[p])
    chosen = (exact or overlapping or [None])[0]
    if chosen is None:
        message = f"no package of {parcel.channel.value} order {parcel.channel_order_id} holds the parcel's lines"
        return _Package(None, carrier=carrier, error=message)
    return _Package(chosen, carrier=carrier)


def _live_rows(order: dict) -> list[dict]:
    rows = [r for r in order.get("line_items") or [] if isinstance(r, dict) and r.get("id")]
    return [r for r in rows if str(r.get("display_status") or "").upper() != "CANCELLED"] or rows


def _group_key(row: dict) -> tuple[str, str, str]:
    """The OMS's line grouping (channels/tiktok/normalizer._lines): seller_sku (else sku_id) and both prices."""
    sku = str(row.get("seller_sku") or "") or f"sku_id:{row.get('sku_id')}"
    return sku, str(row.get("original_price")), str(row.get("sale_price"))


def _row_order(row_id: str) -> tuple[int, str]:
    return (len(row_id), row_id) if row_id.isdigit() else (1 << 30, row_id)


def _plan(parcel: ShipParcel, order: dict) -> tuple[list[list[str]], int] | str:
    """The order's unit rows parcel by parcel (every parcel of the order, in one fixed order whoever asks),
    and this parcel's place among them; or why the rows cannot be shared out so."""
    pools: dict[tuple[str, str, str], list[str]] = {}
    key_of: dict[str, tuple[str, str, str]] = {}
    for row in _live_rows(order):
        key = _group_key(row)
        pools.setdefault(key, []).append(str(row["id"]))
        key_of[str(row["id"])] = key
    for rows in pools.values():
        rows.sort(key=_row_order)
    own = (tuple(parcel.line_ids), tuple(parcel.line_quantities))
    everyone = sorted([own, *parcel.siblings])
    plan: list[list[str]] = []
    where = f"{parcel.channel.value} order {parcel.channel_order_id}"
    for line_ids, quantities in everyone:
        rows: list[str] = []
        for line_id, units in zip(line_ids, quantities, strict=False):
            pool = pools.get(key_of.get(line_id, ("",)))  # type: ignore[arg-type]
            if pool is None or len(pool) < units:
                return f"{where} has no {units} unit(s) left for line {line_id}: its parcels do not match the order"
            rows += pool[:units]
            del pool[:units]
        plan.append(rows)
    left = sum(len(pool) for pool in pools.values())
    if left:
        return f"{where} has {left} unit(s) in none of its parcels: it cannot be split into them"
    return plan, everyone.index(own)


def _packed(order: dict) -> dict[str, list[str]]:
    """package id -> its unit rows (a package no row names: the order's only one holds them all)."""
    ids = [str(p["id"]) for p in order.get("packages") or [] if isinstance(p, dict) and p.get("id")]
    packed: dict[str, list[str]] = {package_id: [] for package_id in ids}
    for row in _live_rows(order):
        package_id = str(row.get("package_id") or "") or (ids[0] if len(ids) == 1 else "")
        if package_id in packed:
            packed[package_id].append(str(row["id"]))
    return packed


def _needs_split(parcel: ShipParcel, order: dict) -> bool:
    """The order has one package and it holds more than this parcel's units."""
    packed = _packed(order)
    plan = _plan(parcel, order)
    if len(packed) != 1 or isinstance(plan, str):
        return False  # nothing to split, or _own_package says why it cannot be
    (rows,) = packed.values()
    return sorted(rows) != sorted(plan[0][plan[1]])


def _own_package(parcel: ShipParcel, order: dict) -> _Package:
    """The package holding exactly this parcel's units: by its rows, else (a twin parcel, the same units)
    by what they are, one not yet arranged first."""
    carrier = str(order.get("shipping_provider") or "") or None
    plan = _plan(parcel, order)
    if isinstance(plan, str):
        return _Package(None, carrier=carrier, error=plan)
    packed = _packed(order)
    if not packed:
        return _package_of(parcel, order)
    mine = sorted(plan[0][plan[1]])
    exact = [p for p, rows in packed.items() if sorted(rows) == mine]
    if exact:
        return _Package(exact[0], carrier=carrier)
    keys = {str(r["id"]): _group_key(r) for r in _live_rows(order)}
    wanted = sorted(keys[r] for r in mine)
    alike = [p for p, rows in packed.items() if sorted(keys[r] for r in rows) == wanted]
    status = {str(r.get("package_id")): r.get("package_status") for r in _live_rows(order)}
    alike.sort(key=lambda p: status.get(p) not in (None, "", "TO_FULFILL"))
    if alike:
        return _Package(alike[0], carrier=carrier)
    where = f"{parcel.channel.value} order {parcel.channel_order_id}"
    message = f"{where} is split otherwise than its parcels: no package holds this one's units alone"
    return _Package(None, carrier=carrier, error=message)


def _slots(data: dict) -> tuple[PickupSlot, ...]:
    """The pickup slots TikTok still takes, earliest first; slot_id is "<start>-<end>" in Unix seconds,
    what Ship Package's pickup_slot needs back."""
    slots = []
    for row in data.get("pickup_slots") or []:
        if not isinstance(row, dict):
            continue
        # The vendor spells it "avaliable"; a missing flag means nothing was said against the slot.
        if row.get("avaliable", row.get("available", True)) is False:
            continue
        try:
            start, end = int(row["start_time"]), int(row["end_time"])
        except (KeyError, TypeError, ValueError):
            continue
        slots.append(
            (
                start,
                PickupSlot(
                    slot_id=f"{start}-{end}",
                    label=_wib_range(start, end),
                    start=datetime.fromtimestamp(start, UTC),
                    end=datetime.fromtimestamp(end, UTC),
                ),
            )
        )
    return tuple(slot for _, slot in sorted(slots, key=lambda pair: pair[0]))


def _parse_slot(slot_id: str) -> tuple[int, int] | None:
    start, _, end = slot_id.partition("-")
    try:
        return int(start), int(end)
    except ValueError:
        return None


def _wib_range(start: int, end: int) -> str:
    """ "Sel 8 Des 13:00-17:00 WIB": the slot as the seller reads it, in Jakarta time."""
    begins = datetime.fromtimestamp(start, WIB)
    ends = datetime.fromtimestamp(end, WIB)
    day = f"{_DAYS[begins.weekday()]} {begins.day} {_MONTHS[begins.month - 1]}"
    return f"{day} {begins:%H:%M}-{ends:%H:%M} WIB"


def _words(exc: TiktokError) -> str:
    """TikTok's own message (TiktokError keeps it after its code)."""
    text = str(exc)
    prefix = f"{exc.code}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _code(code: object) -> str | None:
    return None if code is None else str(code)


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
