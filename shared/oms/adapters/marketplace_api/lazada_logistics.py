"""Shipping on Lazada's own couriers for one seller: Lazada's "new fulfillment API" (the old per-item
calls were switched off on 30 April 2023).

  GetShipmentProvider  GET  /order/shipment/providers/get  getShipmentProvidersReq  <= 20 orders
  Pack                 POST /order/fulfill/pack            packReq                  <= 20 orders
  RecreatePackage      POST /order/package/repack          rePackReq                <= 20 packages
  PrintAWB             GET  /order/package/document/get    getDocumentReq           <= 20 packages
  ReadyToShip          POST /order/package/rts             readyToShipReq           <= 20 packages

Each takes one JSON-valued parameter (a JSON string, as the existing client sends every parameter) and
answers {"result": {"success", "data", "error_code", "error_msg"}, "code": "0", "request_id"}. A
`success: true` answer can still carry failed rows: every row's `item_err_code` is read ("0" = done),
with its `msg` and `retry`. Pages followed (open.lazada.com/apps/doc/api?path=...): the five API pages
above, and the tutorial "Fulfillment orders - Lazada" (open.lazada.com/apps/doc/doc?nodeId=...&docId=121328):

* Lazada decides the first mile (pickup or drop-off) from the seller's own Seller Center settings;
  `delivery_type` is always "dropship" and "the first kilometer collection type is pickup or dropship
  is not determined by this field". So both methods are offered and the chosen one is not sent.
* Pack answers the airway bill (`tracking_number`) at once; Lazada assigns it, it cannot be chosen.
* PrintAWB combines every package of a call into one file ("Separate each package if required, need
  request one by one"), so labels are asked one package per call. Its `pdf_url` is valid for ten
  minutes: downloaded at once, and asked for again once when it has already run out. Its `file`, for
  doc_type PDF, is an HTML iframe pointing at that PDF, not the PDF itself.
* Only "pending" and "repacked" items can be packed (the order status flow page): a parcel to arrange
  again (its pickup failed) is first re-packed with RecreatePackage, then packed anew.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from oms.adapters.marketplace_api.documents import DocumentExpired, fetch_document
from oms.adapters.marketplace_api.lazada import ITEMS_PATH, THROTTLED, LazadaApi, LazadaError
from oms.errors import DependencyError
from oms.ports.logistics import (
    ArrangeOutcome,
    ArrangeRequest,
    HandoverOptions,
    LabelOutcome,
    ResiOutcome,
    ShipParcel,
)

PROVIDERS_PATH = "/order/shipment/providers/get"
PACK_PATH = "/order/fulfill/pack"
REPACK_PATH = "/order/package/repack"
PRINT_AWB_PATH = "/order/package/document/get"
RTS_PATH = "/order/package/rts"
PER_CALL = 20  # orders (GetShipmentProvider, Pack) or packages (RecreatePackage, PrintAWB, ReadyToShip)
ORDERS_PER_ITEMS_CALL = 50  # /orders/items/get, as the order client reads them
# Pack's documented codes whose solution is "system is busy now, pls try later" (and the lock one).
BUSY = frozenset({"6", "SYSTEM_ERROR", "40011", "RPC_ERROR", "700024", "GET_LOCK_FAILED"})
# "item current status not allow to pack": perhaps packed already, by a call whose answer was lost.
PACKABLE = frozenset({"pending", "repacked"})  # item rows Lazada lets the seller pack
NOT_PACKABLE_NOW = frozenset({"700026", "FO_ITEM_NOT_ALLOW_TO_PACK"})
PACKED = frozenset({"packed", "ready_to_ship"})  # GetOrderItems' statuses once packed
SHIPPED_ON = frozenset({"ready_to_ship", "shipped", "delivered"})  # ... and once ready to ship

T = TypeVar("T")


class _Refused(Exception):
    """A call Lazada answered without doing it, or could not be made: its parcels share this outcome."""

    def __init__(self, code: str | None, message: str, *, retryable: bool, busy: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.busy = busy  # Lazada (or its document host) is busy or away: send nothing more now


@dataclass(frozen=True)
class _Allocation:
    """GetShipmentProvider's answer for the seller: what Pack must be told."""

    allocate_type: str  # TFS (local seller) or NTFS (cross-border), passed through to Pack
    platform_decides: bool  # platform_default 1: Lazada allocates the courier
    provider_code: str | None  # the first listed, when the seller must name one (platform_default 0)
    carrier: str | None  # the first listed provider's name


class _Runner:
    """Sends one method's batches in turn and keeps the promise of one outcome per parcel.

    A batch Lazada refuses fails alone. When Lazada is busy (throttled) or unreachable, nothing more is
    sent and the remaining batches are left to try again later. DependencyError is raised only when the
    very first call found Lazada unreachable: once a batch went through, its outcomes must reach the
    caller (the parcels it packed are packed)."""

    def __init__(self, *, raise_when_busy_first: bool = False) -> None:
        self.answered = False
        self.stopped: _Refused | None = None
        self.raise_when_busy_first = raise_when_busy_first

    def each(
        self, batches: Iterable[list[T]], send: Callable[[list[T]], None], fail: Callable[[list[T], _Refused], None]
    ) -> None:
        for batch in batches:
            if self.stopped is not None:
                fail(batch, self.stopped)
                continue
            try:
                send(batch)
            except _Refused as refused:
                if refused.busy and not self.answered and self.raise_when_busy_first:
                    raise DependencyError(f"lazada: {refused.message}") from refused
                if refused.busy:
                    self.stopped = refused
                fail(batch, refused)
            except DependencyError as exc:
                if not self.answered:
                    raise
                self.stopped = _Refused(None, f"Lazada unreachable: {exc.message}", retryable=True, busy=True)
                fail(batch, self.stopped)
            self.answered = True


class LazadaLogistics:
    """MarketplaceLogistics for one Lazada seller (one country's shop and its access token)."""

    def __init__(
        self,
        api: LazadaApi,
        fetch: Callable[[str], bytes] = fetch_document,
        shipping_allocate_type: str | None = None,
    ) -> None:
        self.api = api
        self.fetch = fetch
        self._calls = 0
        # The seller's allocation is the same for all its orders (TFS local, NTFS cross-border): learnt once.
        self._allocation: _Allocation | None = (
            _Allocation(shipping_allocate_type, True, None, None) if shipping_allocate_type else None
        )

    def calls(self) -> int:
        return self._calls

    # --- the port

    def handover_options(self, parcels: Sequence[ShipParcel]) -> dict[str, HandoverOptions]:
        options: dict[str, HandoverOptions] = {}
        by_order = _grouped(parcels, key=lambda parcel: parcel.channel_order_id)

        def send(orders: list[str]) -> None:
            allocation = self._ask_allocation([parcel for order in orders for parcel in by_order[order]])
            for order in orders:
                for parcel in by_order[order]:
                    # Lazada applies the seller's own first-mile setting: either may be asked for.
                    options[parcel.parcel_id] = HandoverOptions(
                        parcel.parcel_id, pickup=True, dropoff=True, package_id=parcel.package_id,
                        carrier=allocation.carrier,
                    )  # fmt: skip

        def fail(orders: list[str], refused: _Refused) -> None:
            for order in orders:
                for parcel in by_order[order]:
                    options[parcel.parcel_id] = HandoverOptions(
                        parcel.parcel_id, package_id=parcel.package_id, error=refused.message
                    )

        _Runner().each(_chunks(list(by_order), PER_CALL), send, fail)
        return options

    def arrange(self, requests: Sequence[ArrangeRequest]) -> dict[str, ArrangeOutcome]:
        outcomes: dict[str, ArrangeOutcome] = {}
        requests = self._unit_rows(requests)
        for request in requests:
            if not request.parcel.line_ids:
                outcomes[request.parcel.parcel_id] = ArrangeOutcome(
                    request.parcel.parcel_id, ok=False, message="no Lazada order_item_id in this parcel"
                )
        run = _Runner()
        again = [r for r in requests if r.again and r.parcel.package_id and r.parcel.parcel_id not in outcomes]
        self._repack(again, outcomes, run)

        def fail(batch: list[ArrangeRequest], refused: _Refused) -> None:
            for request in batch:
                outcomes[request.parcel.parcel_id] = _arrange_refused(request.parcel, refused)

        to_pack = [r for r in requests if r.parcel.parcel_id not in outcomes]
        # One order at most once per call: Lazada packs an order's items of one call into one package.
        run.each(_apart(to_pack, key=lambda r: r.parcel.channel_order_id), lambda b: self._pack(b, outcomes), fail)
        self._find_earlier_packs([r for r in requests if not r.again], outcomes)
        return outcomes

    def resi(self, parcels: Sequence[ShipParcel]) -> dict[str, ResiOutcome]:
        """Pack answers the resi at once; this reads it back (GetOrderItems' tracking_code) when it was lost."""
        outcomes = {
            parcel.parcel_id: ResiOutcome(parcel.parcel_id, resi=parcel.resi, package_id=parcel.package_id)
            for parcel in parcels
            if parcel.resi
        }
        wanted = _grouped([p for p in parcels if not p.resi], key=lambda parcel: parcel.channel_order_id)

        def send(orders: list[str]) -> None:
            rows = self._items(orders)
            for order in orders:
                for parcel in wanted[order]:
                    outcomes[parcel.parcel_id] = _resi_outcome(parcel, rows.get(order))

        def fail(orders: list[str], refused: _Refused) -> None:
            for order in orders:
                for parcel in wanted[order]:
                    outcomes[parcel.parcel_id] = ResiOutcome(
                        parcel.parcel_id, package_id=parcel.package_id, error=refused.message,
                        retryable=refused.retryable,
                    )  # fmt: skip

        _Runner().each(_chunks(list(wanted), ORDERS_PER_ITEMS_CALL), send, fail)
        return outcomes

    def labels(self, parcels: Sequence[ShipParcel]) -> dict[str, LabelOutcome]:
        """One PrintAWB call per package: Lazada answers one combined file for all the packages of a call."""
        outcomes = {
            parcel.parcel_id: LabelOutcome(parcel.parcel_id, error="not packed on Lazada yet (no package id)")
            for parcel in parcels
            if not parcel.package_id
        }
        by_package = _grouped([p for p in parcels if p.package_id], key=lambda parcel: str(parcel.package_id))

        def send(packages: list[str]) -> None:
            pdf = self._label(packages[0])
            for parcel in by_package[packages[0]]:
                outcomes[parcel.parcel_id] = LabelOutcome(parcel.parcel_id, pdf=pdf)

        def fail(packages: list[str], refused: _Refused) -> None:
            for parcel in by_package[packages[0]]:
                outcomes[parcel.parcel_id] = LabelOutcome(
                    parcel.parcel_id, error=refused.message, retryable=refused.retryable
                )

        _Runner().each(([package] for package in by_package), send, fail)
        return outcomes

    def ready_to_ship(self, parcels: Sequence[ShipParcel]) -> dict[str, str | None]:
        """ReadyToShip, 20 packages a call. A busy Lazada on the first call raises DependencyError (the
        answer has no room to say "try again"); later ones say so in the error."""
        errors: dict[str, str | None] = {
            parcel.parcel_id: "not packed on Lazada yet (no package id)" for parcel in parcels if not parcel.package_id
        }
        by_package = _grouped([p for p in parcels if p.package_id], key=lambda parcel: str(parcel.package_id))

        def send(packages: list[str]) -> None:
            result = self._request("POST", RTS_PATH, "readyToShipReq", {"packages": _package_list(packages)})
            rows = _rows_by(_data(result).get("packages"), "package_id")
            refused = _batch_refusal(result)
            if refused is not None and not rows:
                raise refused
            for package in packages:
                row = rows.get(package)
                if row is None:
                    error: str | None = refused.message if refused else "Lazada's answer did not mention this package"
                else:
                    error = None if _ok(row) else str(row.get("msg") or row.get("item_err_code"))
                    doubtful.extend(by_package[package] if error else [])
                for parcel in by_package[package]:
                    errors[parcel.parcel_id] = error

        def fail(packages: list[str], refused: _Refused) -> None:
            later = " (not sent: try again later)" if refused.retryable else ""
            for package in packages:
                for parcel in by_package[package]:
                    errors[parcel.parcel_id] = refused.message + later

        doubtful: list[ShipParcel] = []  # refused by Lazada: perhaps made ready by a call whose answer was lost
        _Runner(raise_when_busy_first=True).each(_chunks(list(by_package), PER_CALL), send, fail)
        for parcel_id in self._already(doubtful, SHIPPED_ON):
            errors[parcel_id] = None
        return errors

    # --- the calls

    def _call(self, method: str, path: str, params: dict[str, str]) -> dict:
        self._calls += 1
        try:
            return self.api.call(method, path, params)
        except LazadaError as exc:
            words = str(exc).removeprefix(f"{exc.code}: ")
            raise _Refused(exc.code, words or exc.code, retryable=exc.code in BUSY, busy=exc.code in BUSY) from exc
        except DependencyError as exc:
            # The client raises DependencyError both for an unreachable Lazada and for Lazada's throttling
            # codes (ApiCallLimit, ServiceTimeout ...), which it names last in its message.
            code = exc.message.rsplit(" ", 1)[-1]
            if code in THROTTLED:
                raise _Refused(code, f"Lazada is busy ({code}): try again later", retryable=True, busy=True) from exc
            raise

    def _request(self, method: str, path: str, name: str, body: dict[str, Any]) -> dict:
        """The call's `result` object (or, for an answer without one, its `data` as if it were)."""
        answer = self._call(method, path, {name: json.dumps(body, separators=(",", ":"))})
        result = answer.get("result")
        return result if isinstance(result, dict) else {"success": True, "data": answer.get("data")}

    def _ask_allocation(self, parcels: list[ShipParcel]) -> _Allocation:
        orders = _grouped(parcels, key=lambda parcel: parcel.channel_order_id)
        body = {
            "orders": [
                {"order_id": _number(order), "order_item_ids": [_number(i) for p in members for i in p.line_ids]}
                for order, members in orders.items()
            ]
        }
        result = self._request("GET", PROVIDERS_PATH, "getShipmentProvidersReq", body)
        refused = _batch_refusal(result)
        if refused is not None:
            raise refused
        data = _data(result)
        providers = [p for p in data.get("shipment_providers") or [] if isinstance(p, dict)]
        first = providers[0] if providers else {}
        self._allocation = _Allocation(
            allocate_type=str(data.get("shipping_allocate_type") or "TFS"),
            platform_decides=str(data.get("platform_default", "1")) == "1",
            provider_code=_text(first.get("provider_code")),
            carrier=_text(first.get("name")),
        )
        return self._allocation

    def _pack(self, batch: list[ArrangeRequest], outcomes: dict[str, ArrangeOutcome]) -> None:
        allocation = self._allocation or self._ask_allocation([r.parcel for r in batch])
        body: dict[str, Any] = {
            "pack_order_list": [
                {
                    "order_id": _number(r.parcel.channel_order_id),
                    "order_item_list": [_number(i) for i in r.parcel.line_ids],
                }
                for r in batch
            ],
            "delivery_type": "dropship",  # the only value Pack takes
            "shipping_allocate_type": allocation.allocate_type,
        }
        if not allocation.platform_decides and allocation.provider_code:
            body["shipment_provider_code"] = allocation.provider_code  # cross-border (NTFS) sellers must name one
        result = self._request("POST", PACK_PATH, "packReq", body)
        rows = _rows_by(
            [row for order in _data(result).get("pack_order_list") or [] if isinstance(order, dict)
             for row in order.get("order_item_list") or []],
            "order_item_id",
        )  # fmt: skip
        refused = _batch_refusal(result)
        if refused is not None and not rows:
            raise refused
        for request in batch:
            parcel = request.parcel
            outcomes[parcel.parcel_id] = _pack_outcome(parcel, [rows.get(i) for i in parcel.line_ids], refused)

    def _repack(self, requests: list[ArrangeRequest], outcomes: dict[str, ArrangeOutcome], run: _Runner) -> None:
        """RecreatePackage for parcels to arrange again: their items become "repacked", which Pack accepts."""
        by_package = _grouped(requests, key=lambda r: str(r.parcel.package_id))

        def send(packages: list[str]) -> None:
            result = self._request("POST", REPACK_PATH, "rePackReq", {"packages": _package_list(packages)})
            rows = _rows_by(_data(result).get("packages"), "package_id")
            refused = _batch_refusal(result)
            if refused is not None and not rows:
                raise refused
            for package in packages:
                row = rows.get(package)
                if row is not None and _ok(row):
                    continue  # re-packed: packed anew below
                for request in by_package[package]:
                    outcomes[request.parcel.parcel_id] = (
                        _row_refused(request.parcel, row, package)
                        if row is not None
                        else _arrange_refused(request.parcel, refused or _unanswered())
                    )

        def fail(packages: list[str], refused: _Refused) -> None:
            for package in packages:
                for request in by_package[package]:
                    outcomes[request.parcel.parcel_id] = _arrange_refused(request.parcel, refused)

        run.each(_chunks(list(by_package), PER_CALL), send, fail)

    def _find_earlier_packs(self, requests: list[ArrangeRequest], outcomes: dict[str, ArrangeOutcome]) -> None:
        """A parcel refused as "not in a status to pack" may have been packed by an earlier call whose
        answer was lost: GetOrderItems shows its one package and resi, and then it is arranged."""
        doubtful = [r.parcel for r in requests if outcomes[r.parcel.parcel_id].error_code in NOT_PACKABLE_NOW]
        for parcel_id, rows in self._already(doubtful, PACKED).items():
            packages = {_text(row.get("package_id")) for row in rows}
            resis = {_text(row.get("tracking_code")) for row in rows}
            if len(packages) == 1 and len(resis) == 1 and None not in packages | resis:
                outcomes[parcel_id] = ArrangeOutcome(
                    parcel_id, ok=True, package_id=packages.pop(), resi=resis.pop(),
                    carrier=_text(rows[0].get("shipment_provider")),
                )  # fmt: skip

    def _already(self, parcels: list[ShipParcel], statuses: frozenset[str]) -> dict[str, list[dict]]:
        """The parcels whose every item GetOrderItems shows in one of these statuses: parcel id -> its rows.
        Nothing when the reading fails: the refusals stand."""
        if not parcels:
            return {}
        rows: dict[str, list[dict]] = {}
        try:
            for chunk in _chunks(list(dict.fromkeys(p.channel_order_id for p in parcels)), ORDERS_PER_ITEMS_CALL):
                rows.update(self._items(chunk))
        except (_Refused, DependencyError):
            return {}
        found = {}
        for parcel in parcels:
            mine = [r for r in rows.get(parcel.channel_order_id, []) if str(r.get("order_item_id")) in parcel.line_ids]
            if parcel.line_ids and len(mine) == len(parcel.line_ids) and all(r.get("status") in statuses for r in mine):
                found[parcel.parcel_id] = mine
        return found

    def _unit_rows(self, requests: Sequence[ArrangeRequest]) -> list[ArrangeRequest]:
        """Lazada has one item row per unit; the OMS's line is a group of them (same SKU and price) named by
        its smallest row id (oms.channels.lazada.normalizer). A line of n units packs n rows: read the
        order's rows once and take n of the group's packable rows, smallest ids first."""
        grouped = [r for r in requests if any(q > 1 for q in r.parcel.line_quantities)]
        if not grouped:
            return list(requests)
        try:
            rows = self._items(list(dict.fromkeys(r.parcel.channel_order_id for r in grouped)))
        except (_Refused, DependencyError):
            return list(requests)  # packed as named; Lazada's answer tells what did not go
        expanded = {}
        for request in grouped:
            order_rows = rows.get(request.parcel.channel_order_id, [])
            by_id = {str(row.get("order_item_id")): row for row in order_rows}
            units: list[str] = []
            for line_id, quantity in zip(request.parcel.line_ids, request.parcel.line_quantities, strict=False):
                named = by_id.get(line_id)
                if named is None:
                    units.append(line_id)
                    continue
                group = sorted(
                    (row for row in order_rows if (row.get("sku"), row.get("item_price")) ==
                     (named.get("sku"), named.get("item_price")) and row.get("status") in PACKABLE),
                    key=lambda row: _id_order(str(row.get("order_item_id"))),
                )  # fmt: skip
                units += [str(row.get("order_item_id")) for row in group[:quantity]] or [line_id]
            parcel = replace(request.parcel, line_ids=tuple(units), line_quantities=(1,) * len(units))
            expanded[request.parcel.parcel_id] = replace(request, parcel=parcel)
        return [expanded.get(r.parcel.parcel_id, r) for r in requests]

    def _items(self, orders: list[str]) -> dict[str, list[dict]]:
        """GetOrderItems for many orders: order id -> its item rows (one per unit)."""
        answer = self._call("GET", ITEMS_PATH, {"order_ids": json.dumps([_number(o) for o in orders])})
        found: dict[str, list[dict]] = {}
        for entry in answer.get("data") or []:
            if isinstance(entry, dict) and entry.get("order_id") is not None:
                found[str(entry["order_id"])] = [row for row in entry.get("order_items") or [] if isinstance(row, dict)]
        return found

    def _label(self, package: str) -> bytes:
        for _ in range(2):  # the link may have run out before it was fetched: one more PrintAWB
            result = self._request(
                "GET", PRINT_AWB_PATH, "getDocumentReq", {"doc_type": "PDF", "packages": _package_list([package])}
            )
            refused = _batch_refusal(result)
            if refused is not None:
                raise refused
            data = _data(result)
            url = _text(data.get("pdf_url"))
            if url is None:
                content = _base64(data.get("file"))
                if content.startswith(b"%PDF"):
                    return content
                raise _Refused(None, "Lazada's PrintAWB answer has no pdf_url", retryable=True)
            try:
                return self.fetch(url)
            except DocumentExpired:
                continue
            except DependencyError as exc:
                raise _Refused(None, f"label download failed: {exc.message}", retryable=True, busy=True) from exc
        raise _Refused(None, "Lazada's pdf_url ran out twice before the label was downloaded", retryable=True)


def logistics(api: LazadaApi, fetch: Callable[[str], bytes] = fetch_document) -> LazadaLogistics:
    return LazadaLogistics(api, fetch=fetch)


# --- reading the answers


def _data(result: dict) -> dict:
    data = result.get("data")
    return data if isinstance(data, dict) else {}


def _batch_refusal(result: dict) -> _Refused | None:
    """`success: false`: "this batch must be unsuccessful" (error_code, error_msg)."""
    if _true(result.get("success")):
        return None
    code = _text(result.get("error_code"))
    busy = code in BUSY
    return _Refused(code, _text(result.get("error_msg")) or "Lazada refused the request", retryable=busy, busy=busy)


def _rows_by(rows: object, key: str) -> dict[str, dict]:
    if not isinstance(rows, list):
        return {}
    return {str(row[key]): row for row in rows if isinstance(row, dict) and row.get(key) is not None}


def _ok(row: dict) -> bool:
    return str(row.get("item_err_code")) == "0"


def _pack_outcome(parcel: ShipParcel, rows: list[dict | None], refused: _Refused | None) -> ArrangeOutcome:
    answered = [row for row in rows if row is not None]
    if len(answered) < len(rows):
        return _arrange_refused(parcel, refused or _unanswered())
    failed = [row for row in answered if not _ok(row)]
    packages = list(dict.fromkeys(p for row in answered if _ok(row) and (p := _text(row.get("package_id")))))
    if failed:
        outcome = _row_refused(parcel, failed[0], packages[0] if packages else None)
        if packages:  # some of its items were packed: say so, the rest was refused
            return replace(outcome, message=f"{outcome.message} (some items packed: {', '.join(packages)})")
        return outcome
    first = answered[0]
    split = f"Lazada split this parcel into packages {', '.join(packages)}" if len(packages) > 1 else None
    return ArrangeOutcome(
        parcel.parcel_id, ok=True, package_id=packages[0] if packages else None,
        resi=_text(first.get("tracking_number")), carrier=_text(first.get("shipment_provider")), message=split,
    )  # fmt: skip


def _row_refused(parcel: ShipParcel, row: dict, package: str | None) -> ArrangeOutcome:
    code = str(row.get("item_err_code"))
    return ArrangeOutcome(
        parcel.parcel_id, ok=False, package_id=package, error_code=code,
        message=_text(row.get("msg")) or code, retryable=_true(row.get("retry")) or code in BUSY,
    )  # fmt: skip


def _arrange_refused(parcel: ShipParcel, refused: _Refused) -> ArrangeOutcome:
    return ArrangeOutcome(
        parcel.parcel_id, ok=False, package_id=parcel.package_id, error_code=refused.code,
        message=refused.message, retryable=refused.retryable,
    )  # fmt: skip


def _unanswered() -> _Refused:
    # Lazada said "success" but nothing of this parcel: asking again finds out (a packed one is found back).
    return _Refused(None, "Lazada's answer did not mention this parcel", retryable=True)


def _resi_outcome(parcel: ShipParcel, rows: list[dict] | None) -> ResiOutcome:
    def final(error: str) -> ResiOutcome:
        return ResiOutcome(parcel.parcel_id, package_id=parcel.package_id, error=error, retryable=False)

    if rows is None:
        return final("Lazada does not know this order")
    if parcel.line_ids:
        mine = [row for row in rows if str(row.get("order_item_id")) in parcel.line_ids]
    else:
        mine = [row for row in rows if parcel.package_id and _text(row.get("package_id")) == parcel.package_id]
    if not mine:
        return final("Lazada shows none of this parcel's items")
    if all(str(row.get("status")) == "canceled" for row in mine):
        return final("canceled on Lazada")
    first = next((row for row in mine if _text(row.get("tracking_code"))), None)
    if first is None:
        return ResiOutcome(parcel.parcel_id, package_id=parcel.package_id)  # not assigned yet: ask again later
    return ResiOutcome(
        parcel.parcel_id, resi=_text(first.get("tracking_code")), carrier=_text(first.get("shipment_provider")),
        package_id=parcel.package_id or _text(first.get("package_id")),
    )  # fmt: skip


# --- small helpers


def _grouped(items: Iterable[T], key: Callable[[T], Hashable]) -> dict[Any, list[T]]:
    groups: dict[Any, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _apart(items: Sequence[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Batches of at most PER_CALL in which no two items share a key (first fit, order kept)."""
    batches: list[tuple[list[T], set]] = []
    for item in items:
        home = next((b for b in batches if len(b[0]) < PER_CALL and key(item) not in b[1]), None)
        if home is None:
            home = ([], set())
            batches.append(home)
        home[0].append(item)
        home[1].add(key(item))
    return [batch for batch, _ in batches]


def _package_list(packages: list[str]) -> list[dict[str, str]]:
    return [{"package_id": package} for package in packages]


def _id_order(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _number(value: str) -> int | str:
    """Lazada's ids travel as JSON numbers."""
    return int(value) if value.isdigit() else value


def _true(value: object) -> bool:
    return value is True or str(value).lower() == "true"  # Lazada's pages show both true and "true"


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _base64(value: object) -> bytes:
    try:
        return base64.b64decode(str(value or ""), validate=True)
    except (binascii.Error, ValueError):
        return b""
