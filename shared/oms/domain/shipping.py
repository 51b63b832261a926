"""Shipping parcels: arrange the marketplace's own courier or book the retailer's, get the airway bill
(resi) and the label, print in bulk, and know where each parcel stands.

The API side checks each parcel, marks the accepted ones `arranging` on their orders and queues one
command per channel; the worker side (`run`) makes the vendor calls in the batches each API allows
and writes what came back. Every step reads the order first and acts only on parcels still in the
state the step expects, so a repeated or late command does nothing twice. A resi that has not come
is asked for again after a delay (the queue's own delay), up to a limit; a push can bring it sooner.
The parcel lists are a projection of the orders (`project`), fed by the orders' own events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms.domain.aggregate import update_order
from oms.domain.lifecycle import AT_NODE, ENDED, HANDED_OVER
from oms.errors import Conflict, DependencyError, NotFound
from oms.models.common import Channel
from oms.models.order import (
    OWN_CHANNELS,
    PICKUP_METHODS,
    ChannelState,
    Fulfillment,
    Order,
    OrderStatus,
    fulfillment_order_id,
)
from oms.models.shipping import (
    ArrangedBy,
    BulkAnswer,
    Handover,
    OptionsView,
    ParcelOutcome,
    ParcelShipping,
    PrintedParcel,
    PrintJob,
    RateView,
    ShippingFailure,
    ShippingState,
    SlotView,
)
from oms.ports import OrderRepository
from oms.ports.logistics import (
    ArrangeOutcome,
    ArrangeRequest,
    BookingItem,
    BookingRefused,
    BookingRequest,
    CourierBooking,
    DocumentStore,
    LabelLine,
    LabelParty,
    MarketplaceLogistics,
    OwnLabel,
    PackingList,
    Party,
    PickLine,
    Printer,
    PrintSheet,
    ShipParcel,
    ShippingCommands,
    ShippingStore,
)

S = ShippingState
MAX_ARRANGE_ATTEMPTS = 5  # a vendor still busy after this many tries: the parcel shows as failed
MAX_LABEL_ASKS = 20
MAX_PRINT = 300  # parcels in one print job: one PDF a browser opens comfortably
DEFAULT_WEIGHT_GRAMS = 500  # a line with no weight known: what couriers assume for a small parcel
ARRANGEABLE = frozenset({S.to_arrange, S.arrange_failed})
PRINTABLE = frozenset({S.label_ready, S.printed})
# A marketplace's raw status saying its courier's pickup failed and the seller must arrange again.
PICKUP_FAILED = {Channel.shopee: frozenset({"RETRY_SHIP"})}
MARKETPLACE_HANDED_OVER = frozenset({ChannelState.shipped, ChannelState.delivered, ChannelState.completed})


@dataclass(frozen=True)
class Timing:
    resi_poll_seconds: int = 300  # Shopee: "retry at 5-minute intervals"
    resi_max_asks: int = 24  # two hours of asking; then the push, or a person
    label_retry_seconds: int = 30  # a document being made (Shopee PROCESSING)
    arrange_retry_seconds: int = 60  # a busy vendor


def shipping_state(order: Order, parcel: Fulfillment) -> ShippingState | None:
    """Where a parcel stands for the shipping lists; None: not one that ships (store pickup, ended)."""
    if parcel.status in ENDED or order.delivery_method in PICKUP_METHODS:
        return None
    if parcel.status in HANDED_OVER:
        return S.handed_over
    if parcel.shipping is None:
        return S.to_arrange if parcel.status in AT_NODE and order.status is not OrderStatus.cancelled else None
    return parcel.shipping.state


def parcel_row(order: Order, parcel: Fulfillment) -> dict[str, Any] | None:
    """One parcel as the lists show it (no names, addresses or phones)."""
    state = shipping_state(order, parcel)
    if state is None:
        return None
    shipping = parcel.shipping
    return {
        "parcel_id": parcel.fulfillment_id,
        "order_id": order.order_id,
        "order_number": order.order_number,
        "channel": order.channel.value,
        "channel_order_id": order.channel_order_id,
        "shop_id": order.shop_id,
        "node_id": parcel.node_id,
        "state": state.value,
        "ship_by": (parcel.ship_by or order.ship_by).isoformat() if (parcel.ship_by or order.ship_by) else None,
        "arranged_by": shipping.arranged_by.value if shipping else None,
        "handover": shipping.handover.value if shipping else None,
        "resi": shipping.resi if shipping else (parcel.shipment.tracking_number if parcel.shipment else None),
        "carrier": shipping.carrier if shipping else (parcel.shipment.carrier if parcel.shipment else None),
        "failure": shipping.failure.message if shipping and shipping.failure else None,
        "printed_count": shipping.printed_count if shipping else 0,
        "version": order.version,
        "updated_at": order.updated_at.isoformat(),
    }


class ShippingService:
    def __init__(
        self,
        orders: OrderRepository,
        marketplace: Callable[[Channel, str | None], MarketplaceLogistics],  # (channel, shop id)
        courier: Callable[[], CourierBooking],
        printer: Callable[[], Printer],
        documents: DocumentStore,
        store: ShippingStore,
        commands: ShippingCommands,
        nodes: Callable[[], dict[str, Any]],
        clock: Callable[[], datetime],
        timing: Timing = Timing(),
        hand_over: Callable[[str, str, str, str], None] | None = None,
    ) -> None:
        self.orders = orders
        self.marketplace = marketplace
        self.courier = courier
        self.printer = printer
        self.documents = documents
        self.store = store
        self.commands = commands
        self.nodes = nodes
        self.clock = clock
        self.timing = timing
        # (parcel id, carrier, resi, by): the node's "shipped" report, made for it when the marketplace says so
        self.hand_over = hand_over

    # ------------------------------------------------------------------ asked for (HTTP)

    def arrange(self, parcel_ids: Sequence[str], handover: str, slot_id: str | None, by: str) -> BulkAnswer:
        """Mark each arrangeable parcel `arranging` and queue one arrange per channel; refuse the rest."""
        how = Handover(handover)

        def start(order: Order, parcel: Fulfillment) -> ParcelShipping:
            if order.channel in OWN_CHANNELS:
                raise Conflict(f"a {order.channel.value} order ships with the retailer's courier: book it instead")
            try:
                self.marketplace(order.channel, order.shop_id)
            except DependencyError as exc:
                raise Conflict(exc.message) from None
            now = self.clock()
            return ParcelShipping(arranged_by=ArrangedBy.marketplace, state=S.arranging, handover=how,
                                  slot_id=slot_id, package_id=_previous(parcel, "package_id"),
                                  again=bool(_previous(parcel, "resi")), requested_by=by, requested_at=now,
                                  updated_at=now)  # fmt: skip

        answer, started = self._start(parcel_ids, start, by)
        for (channel, shop_id), ids in started.items():
            self.commands.send({"step": "arrange", "channel": channel, "shop_id": shop_id, "parcels": ids,
                                "handover": how.value, "slot_id": slot_id})  # fmt: skip
        return answer

    def book(self, parcel_ids: Sequence[str], courier: str | None, service: str | None, by: str) -> BulkAnswer:
        """Own-channel parcels: queue a booking with the retailer's courier (through the aggregator)."""

        def start(order: Order, parcel: Fulfillment) -> ParcelShipping:
            if order.channel not in OWN_CHANNELS:
                raise Conflict(f"a {order.channel.value} order ships on the marketplace's courier: arrange it")
            now = self.clock()
            return ParcelShipping(arranged_by=ArrangedBy.own_courier, state=S.arranging, handover=Handover.booked,
                                  carrier=courier, service=service, requested_by=by, requested_at=now,
                                  updated_at=now)  # fmt: skip

        answer, started = self._start(parcel_ids, start, by)
        for ids in started.values():
            self.commands.send({"step": "book", "parcels": ids, "courier": courier, "service": service})
        return answer

    def _start(
        self, parcel_ids: Sequence[str], start: Callable[[Order, Fulfillment], ParcelShipping], by: str
    ) -> tuple[BulkAnswer, dict[tuple[str, str | None], list[str]]]:
        outcomes: dict[str, ParcelOutcome] = {}
        started: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        for order_id, ids in _by_order(parcel_ids).items():
            refused: dict[str, str] = {}

            def change(order: Order, ids: list[str] = ids, refused: dict[str, str] = refused) -> Order:
                refused.clear()
                fulfillments = list(order.fulfillments)
                for parcel_id in ids:
                    index = next((i for i, f in enumerate(fulfillments) if f.fulfillment_id == parcel_id), None)
                    if index is None:
                        refused[parcel_id] = "not_found"
                        continue
                    why = self._why_not(order, fulfillments[index])
                    if why is None:
                        try:
                            fulfillments[index] = fulfillments[index].model_copy(
                                update={"shipping": start(order, fulfillments[index])}
                            )
                        except Conflict as exc:
                            why = exc.message
                    if why is not None:
                        refused[parcel_id] = why
                if len(refused) == len(ids):
                    return order
                return _changed(order, fulfillments, self.clock(), by)

            try:
                updated = update_order(self.orders, order_id, change)
            except NotFound:
                outcomes.update({i: ParcelOutcome(parcel_id=i, outcome="not_found", reason="no such parcel")
                                 for i in ids})  # fmt: skip
                continue
            for parcel_id in ids:
                why = refused.get(parcel_id)
                if why == "not_found":
                    outcomes[parcel_id] = ParcelOutcome(parcel_id=parcel_id, outcome="not_found",
                                                        reason="no such parcel")  # fmt: skip
                elif why is not None:
                    parcel = _find(updated.after, parcel_id)
                    state = shipping_state(updated.after, parcel) if parcel else None
                    outcomes[parcel_id] = ParcelOutcome(parcel_id=parcel_id, outcome="refused", state=state, reason=why)
                else:
                    outcomes[parcel_id] = ParcelOutcome(parcel_id=parcel_id, outcome="accepted", state=S.arranging)
                    started[(updated.after.channel.value, updated.after.shop_id)].append(parcel_id)
        ordered = [outcomes[i] for i in dict.fromkeys(parcel_ids)]
        accepted = sum(1 for o in ordered if o.outcome == "accepted")
        return BulkAnswer(accepted=accepted, refused=len(ordered) - accepted, parcels=ordered), started

    def _why_not(self, order: Order, parcel: Fulfillment) -> str | None:  # noqa: PLR0911 - one reason each
        """Why this parcel cannot be arranged now (None: it can)."""
        if order.status is OrderStatus.cancelled or parcel.status in ENDED:
            return f"cancelled ({parcel.status.value})"
        if order.delivery_method in PICKUP_METHODS:
            return "collected by the buyer at the store: nothing to ship"
        if parcel.status in HANDED_OVER:
            return "handed over already"
        state = shipping_state(order, parcel)
        if state not in ARRANGEABLE:
            return f"arranged already ({state.value if state else parcel.status.value})"
        if order.holds:
            return "on hold: " + ", ".join(order.hold_codes)
        ship_by = parcel.ship_by or order.ship_by
        if ship_by is not None and ship_by < self.clock():
            return f"past its ship-by ({ship_by.isoformat()}): ship it in the channel's seller centre"
        return None

    def options(self, parcel_ids: Sequence[str]) -> list[OptionsView]:
        """Pickup slots and drop-off, as each marketplace offers them for these parcels."""
        found, views = self._ship_parcels(parcel_ids)
        for shop, parcels in _by_shop(found).items():
            try:
                offered = self.marketplace(*shop).handover_options(parcels)
            except DependencyError as exc:
                views.update({p.parcel_id: OptionsView(parcel_id=p.parcel_id, error=exc.message) for p in parcels})
                continue
            for parcel in parcels:
                option = offered.get(parcel.parcel_id)
                if option is None:
                    views[parcel.parcel_id] = OptionsView(parcel_id=parcel.parcel_id, error="no answer for it")
                    continue
                slots = [SlotView(slot_id=s.slot_id, label=s.label, start=s.start, end=s.end) for s in option.slots]
                views[parcel.parcel_id] = OptionsView(parcel_id=parcel.parcel_id, pickup=option.pickup,
                                                      dropoff=option.dropoff, slots=slots, carrier=option.carrier,
                                                      error=option.error)  # fmt: skip
        return [views[i] for i in dict.fromkeys(parcel_ids)]

    def rates(self, parcel_id: str) -> list[RateView]:
        order = self._order(fulfillment_order_id(parcel_id))
        parcel = _find(order, parcel_id)
        if parcel is None:
            raise NotFound(f"no parcel {parcel_id}")
        if order.channel not in OWN_CHANNELS:
            raise Conflict(f"a {order.channel.value} order ships on the marketplace's courier")
        found = self.courier().rates(self._booking_request(order, parcel))
        return [RateView(courier=r.courier, service=r.service, price=r.price, description=r.description,
                         duration=r.duration, cod=r.cod) for r in found]  # fmt: skip

    # ------------------------------------------------------------------ the worker's steps

    def run(self, command: dict[str, Any]) -> dict[str, int]:
        """One queued step; answers counts for the logs. Raises DependencyError to be tried again."""
        step = command.get("step")
        ids = [str(i) for i in command.get("parcels") or []]
        if step == "arrange":
            return self._run_arrange(ids, command.get("handover") or "pickup", command.get("slot_id"))
        if step == "resi":
            return self._run_resi(ids)
        if step == "label":
            return self._run_label(ids)
        if step == "book":
            return self._run_book(ids, command.get("courier"), command.get("service"))
        if step == "nudge":
            return self._nudge(str(command.get("order_id") or ""))
        raise ValueError(f"unknown shipping step {step!r}")

    def _run_arrange(self, ids: list[str], handover: str, slot_id: str | None) -> dict[str, int]:
        parcels = self._parcels_in(ids, {S.arranging}, ArrangedBy.marketplace)
        if not parcels:
            return {"arranged": 0}
        requests = [ArrangeRequest(parcel=_ship_parcel(order, parcel), method=handover,  # type: ignore[arg-type]
                                   slot_id=slot_id, again=bool(parcel.shipping and parcel.shipping.again))
                    for order, parcel in parcels]  # fmt: skip
        outcomes: dict[str, ArrangeOutcome] = {}
        calls = 0
        for shop, group in _by_shop(requests, lambda r: r.parcel).items():  # one shop's credentials a call
            logistics = self.marketplace(*shop)
            outcomes.update(logistics.arrange(group))
            calls += logistics.calls()
        now = self.clock()
        retry, resi_wait, labels = [], [], []

        def apply(shipping: ParcelShipping, parcel_id: str) -> ParcelShipping:
            outcome = outcomes.get(parcel_id)
            attempts = shipping.attempts + 1
            if outcome is None or (not outcome.ok and outcome.retryable):
                message = (outcome.message if outcome else None) or "the marketplace gave no answer for it"
                failure = ShippingFailure(code=outcome.error_code if outcome else None, message=message, at=now,
                                          retryable=True)  # fmt: skip
                if attempts < MAX_ARRANGE_ATTEMPTS:
                    retry.append(parcel_id)
                    return shipping.model_copy(update={"attempts": attempts, "failure": failure, "updated_at": now})
                return shipping.model_copy(update={"attempts": attempts, "state": S.arrange_failed,
                                                   "failure": failure, "updated_at": now})  # fmt: skip
            if not outcome.ok:
                failure = ShippingFailure(code=outcome.error_code, message=outcome.message or "refused", at=now)
                return shipping.model_copy(update={"attempts": attempts, "state": S.arrange_failed,
                                                   "failure": failure, "updated_at": now})  # fmt: skip
            (labels if outcome.resi else resi_wait).append(parcel_id)
            return shipping.model_copy(update={
                "attempts": attempts, "state": S.waiting_for_resi, "failure": None, "updated_at": now,
                "package_id": outcome.package_id or shipping.package_id, "resi": outcome.resi or shipping.resi,
                "carrier": outcome.carrier or shipping.carrier,
            })  # fmt: skip

        self._write(parcels, {S.arranging}, apply)
        if retry:
            self.commands.send({"step": "arrange", "parcels": retry, "handover": handover, "slot_id": slot_id},
                               self.timing.arrange_retry_seconds)  # fmt: skip
        if resi_wait:
            self.commands.send({"step": "resi", "parcels": resi_wait}, self.timing.resi_poll_seconds)
        if labels:
            self.commands.send({"step": "label", "parcels": labels})
        return {"arranged": len(resi_wait) + len(labels), "retry": len(retry), "calls": calls}

    def _run_resi(self, ids: list[str]) -> dict[str, int]:
        waiting = [(o, p) for o, p in self._parcels_in(ids, {S.waiting_for_resi}) if not _resi(p)]
        if not waiting:
            return {"resi": 0}
        answers: dict[str, tuple[str | None, str | None]] = {}
        for arranged_by, group in _by_arranger(waiting).items():
            if arranged_by is ArrangedBy.own_courier:
                for _, parcel in group:
                    booking = self.courier().booking(str(parcel.shipping.booking_id))  # type: ignore[union-attr]
                    answers[parcel.fulfillment_id] = (booking.waybill, booking.courier)
                continue
            for shop, parcels in _by_shop([_ship_parcel(o, p) for o, p in group]).items():
                for parcel_id, found in self.marketplace(*shop).resi(parcels).items():
                    answers[parcel_id] = (found.resi, found.carrier)
        now = self.clock()
        came, again = [], []

        def apply(shipping: ParcelShipping, parcel_id: str) -> ParcelShipping:
            resi, carrier = answers.get(parcel_id, (None, None))
            asks = shipping.resi_asks + 1
            if resi:
                came.append(parcel_id)
                return shipping.model_copy(update={"resi": resi, "carrier": carrier or shipping.carrier,
                                                   "resi_asks": asks, "updated_at": now})  # fmt: skip
            if asks < self.timing.resi_max_asks:
                again.append(parcel_id)
                return shipping.model_copy(update={"resi_asks": asks, "updated_at": now})
            failure = ShippingFailure(message=f"no resi after {asks} asks: waiting for the marketplace's push", at=now)
            return shipping.model_copy(update={"resi_asks": asks, "failure": failure, "updated_at": now})

        self._write(waiting, {S.waiting_for_resi}, apply)
        if came:
            self.commands.send({"step": "label", "parcels": came})
        if again:
            self.commands.send({"step": "resi", "parcels": again}, self.timing.resi_poll_seconds)
        return {"resi": len(came), "waiting": len(again)}

    def _nudge(self, order_id: str) -> dict[str, int]:
        """A marketplace pushed that a resi or a label is there: ask for what the order's parcels wait for now
        (the polls already queued find them done and do nothing)."""
        order = self.orders.get(order_id)
        if order is None:
            return {"nudged": 0}
        waiting = [p for p in order.fulfillments if p.shipping and p.shipping.state is S.waiting_for_resi
                   and p.shipping.arranged_by is ArrangedBy.marketplace and p.status in AT_NODE]  # fmt: skip
        without = [p.fulfillment_id for p in waiting if not p.shipping.resi]  # type: ignore[union-attr]
        with_resi = [p.fulfillment_id for p in waiting if p.shipping.resi]  # type: ignore[union-attr]
        if without:
            self._run_resi(without)
        if with_resi:
            self._run_label(with_resi)
        return {"nudged": len(waiting)}

    def _run_label(self, ids: list[str]) -> dict[str, int]:
        waiting = [(o, p) for o, p in self._parcels_in(ids, {S.waiting_for_resi}) if _resi(p)]
        if not waiting:
            return {"labels": 0}
        kept: dict[str, str] = {}
        problems: dict[str, tuple[str, bool]] = {}  # parcel id -> (why, try again)
        ready_to_ship: dict[tuple[Channel, str | None], list[ShipParcel]] = defaultdict(list)
        for arranged_by, group in _by_arranger(waiting).items():
            if arranged_by is ArrangedBy.own_courier:
                for order, parcel in group:
                    pdf = self.printer().own_label(self._own_label(order, parcel))
                    kept[parcel.fulfillment_id] = self._keep_label(parcel.fulfillment_id, pdf)
                continue
            for shop, parcels in _by_shop([_ship_parcel(o, p) for o, p in group]).items():
                logistics = self.marketplace(*shop)
                for parcel_id, label in logistics.labels(parcels).items():
                    if label.pdf:
                        kept[parcel_id] = self._keep_label(parcel_id, label.pdf)
                    elif label.pending:
                        problems[parcel_id] = ("the marketplace is still making the label", True)
                    else:
                        problems[parcel_id] = (label.error or "no label", label.retryable)
                ready_to_ship[shop] += [p for p in parcels if p.parcel_id in kept]
        told: dict[str, str | None] = {}
        for shop, parcels in ready_to_ship.items():
            if parcels:
                told.update(self.marketplace(*shop).ready_to_ship(parcels))
        now = self.clock()
        again: list[str] = []

        def apply(shipping: ParcelShipping, parcel_id: str) -> ParcelShipping:
            asks = shipping.label_asks + 1
            if parcel_id in kept:
                rts_error = told.get(parcel_id)
                failure = ShippingFailure(message=f"ready to ship refused: {rts_error}", at=now) if rts_error else None
                return shipping.model_copy(update={
                    "label_key": kept[parcel_id], "state": S.label_ready, "label_asks": asks, "failure": failure,
                    "ready_to_ship_at": now if parcel_id in told and not rts_error else shipping.ready_to_ship_at,
                    "updated_at": now,
                })  # fmt: skip
            why, retry = problems.get(parcel_id, ("no answer for it", True))
            if retry and asks < MAX_LABEL_ASKS:
                again.append(parcel_id)
            failure = ShippingFailure(message=f"label: {why}", at=now, retryable=retry)
            return shipping.model_copy(update={"label_asks": asks, "failure": failure, "updated_at": now})

        self._write(waiting, {S.waiting_for_resi}, apply)
        if again:
            self.commands.send({"step": "label", "parcels": again}, self.timing.label_retry_seconds)
        return {"labels": len(kept), "waiting": len(again)}

    def _keep_label(self, parcel_id: str, pdf: bytes) -> str:
        key = f"labels/{fulfillment_order_id(parcel_id)}/{parcel_id}.pdf"
        self.documents.put(key, pdf)
        return key

    def _run_book(self, ids: list[str], courier: str | None, service: str | None) -> dict[str, int]:
        parcels = self._parcels_in(ids, {S.arranging}, ArrangedBy.own_courier)
        if not parcels:
            return {"booked": 0}
        booking_api = self.courier()
        results: dict[str, Any] = {}
        outage: DependencyError | None = None
        for order, parcel in parcels:
            try:
                request = self._booking_request(order, parcel)
                chosen = self._choose(booking_api, request, order, parcel, courier, service)
                if isinstance(chosen, str):
                    results[parcel.fulfillment_id] = BookingRefused(None, chosen)
                    continue
                results[parcel.fulfillment_id] = booking_api.book(request, chosen[0], chosen[1])
            except BookingRefused as refused:
                results[parcel.fulfillment_id] = refused
            except Conflict as refused:  # no address to send it to
                results[parcel.fulfillment_id] = BookingRefused(None, refused.message)
            except DependencyError as exc:
                outage = exc  # the bookings made so far are written first, so a retry does not book them twice
                break
        parcels = [(o, p) for o, p in parcels if p.fulfillment_id in results]
        now = self.clock()
        labels, resi_wait = [], []

        def apply(shipping: ParcelShipping, parcel_id: str) -> ParcelShipping:
            result = results.get(parcel_id)
            if isinstance(result, BookingRefused) or result is None:
                message = result.message if result is not None else "no booking made"
                failure = ShippingFailure(code=result.code if result else None, message=message, at=now)
                return shipping.model_copy(update={"state": S.arrange_failed, "failure": failure,
                                                   "attempts": shipping.attempts + 1, "updated_at": now})  # fmt: skip
            (labels if result.waybill else resi_wait).append(parcel_id)
            return shipping.model_copy(update={
                "state": S.waiting_for_resi, "booking_id": result.booking_id, "resi": result.waybill,
                "carrier": result.courier, "service": result.service, "price": result.price, "failure": None,
                "attempts": shipping.attempts + 1, "updated_at": now,
            })  # fmt: skip

        self._write(parcels, {S.arranging}, apply)
        if labels:
            self.commands.send({"step": "label", "parcels": labels})
        if resi_wait:
            self.commands.send({"step": "resi", "parcels": resi_wait}, self.timing.resi_poll_seconds)
        if outage is not None:
            raise outage
        return {"booked": len(labels) + len(resi_wait)}

    def _choose(
        self, api: CourierBooking, request: BookingRequest, order: Order, parcel: Fulfillment,
        courier: str | None, service: str | None,
    ) -> tuple[str, str] | str:  # fmt: skip
        """The courier and service to book: as asked, else as promised, else the cheapest that fits."""
        promise = parcel.promise_original or parcel.promise
        courier = courier or (promise.carrier if promise else None)
        service = service or (promise.service if promise else None)
        if courier and service:
            return courier.lower(), service.lower()
        rates = [r for r in api.rates(request) if (not courier or r.courier == courier.lower())
                 and (not order.payment.cod or r.cod)]  # fmt: skip
        if not rates:
            return "no courier offers this parcel" + (" with cash on delivery" if order.payment.cod else "")
        cheapest = min(rates, key=lambda r: r.price)
        return cheapest.courier, cheapest.service

    # ------------------------------------------------------------------ printing

    def print_job(self, parcel_ids: Sequence[str], layout: str, reprint: bool, by: str, job_id: str) -> PrintJob:
        """One PDF: the labels, a pick list for the batch, a packing list per parcel; marks them printed.
        Unknown parcels, parcels without a label and (unless reprint) printed ones are reported, not printed."""
        ids = list(dict.fromkeys(parcel_ids))
        if len(ids) > MAX_PRINT:
            raise Conflict(f"at most {MAX_PRINT} parcels in one print job (asked {len(ids)})")
        reasons: dict[str, str] = {}
        chosen: list[tuple[Order, Fulfillment]] = []
        orders = self._orders_of(ids)
        for parcel_id in ids:
            order = orders.get(fulfillment_order_id(parcel_id))
            parcel = _find(order, parcel_id) if order else None
            if order is None or parcel is None:
                reasons[parcel_id] = "no such parcel"
                continue
            state = shipping_state(order, parcel)
            shipping = parcel.shipping
            if shipping is None or not shipping.label_key or state not in PRINTABLE | {S.handed_over}:
                reasons[parcel_id] = f"no label yet ({state.value if state else parcel.status.value})"
            elif shipping.printed_count and not reprint:
                reasons[parcel_id] = "printed already: ask for a reprint"
            else:
                chosen.append((order, parcel))
        labels: list[tuple[str, bytes]] = []
        files = self.documents.get_many([str(p.shipping.label_key) for _, p in chosen])  # type: ignore[union-attr]
        for _order, parcel in chosen:
            data = files.get(str(parcel.shipping.label_key))  # type: ignore[union-attr]
            if data is None:
                reasons[parcel.fulfillment_id] = "its label file is missing: arrange it again"
            else:
                labels.append((parcel.fulfillment_id, data))
        now = self.clock()
        placed = {parcel_id for parcel_id, _ in labels}
        chosen = [(o, p) for o, p in chosen if p.fulfillment_id in placed]
        sheet = self.printer().sheet(PrintSheet(
            layout=layout,  # type: ignore[arg-type]
            labels=tuple(labels), pick_list=_pick_list(chosen), packing_lists=tuple(_packing(o, p) for o, p in chosen),
            title=f"Cetak {job_id}", printed_at=now,
        ))  # fmt: skip
        reasons.update(sheet.failed)
        printed = [(o, p) for o, p in chosen if p.fulfillment_id not in sheet.failed]
        key = f"print-jobs/{now.strftime('%Y/%m/%d')}/{job_id}.pdf"
        self.documents.put(key, sheet.pdf)
        done = {p.fulfillment_id for _, p in printed}

        def mark(shipping: ParcelShipping, _: str) -> ParcelShipping:
            state = S.printed if shipping.state in PRINTABLE else shipping.state
            return shipping.model_copy(update={"printed_count": shipping.printed_count + 1, "printed_at": now,
                                               "state": state, "updated_at": now})  # fmt: skip

        self._write(printed, set(ShippingState), mark)
        job = PrintJob(job_id=job_id, created_at=now, created_by=by, layout=layout,  # type: ignore[arg-type]
                       parcels=[PrintedParcel(parcel_id=i, printed=i in done, reason=reasons.get(i)) for i in ids],
                       printed=len(done), failed=len(ids) - len(done), pages=sheet.pages, bytes=len(sheet.pdf),
                       document_key=key)  # fmt: skip
        self.store.put_print_job(job.model_dump(mode="json"))
        return job.model_copy(update={"download_url": self.documents.url(key)})

    def get_print_job(self, job_id: str) -> PrintJob:
        found = self.store.print_job(job_id)
        if found is None:
            raise NotFound(f"no print job {job_id}")
        job = PrintJob.model_validate(found)
        return job.model_copy(update={"download_url": self.documents.url(job.document_key)})

    def label(self, parcel_id: str) -> bytes:
        order = self._order(fulfillment_order_id(parcel_id))
        parcel = _find(order, parcel_id)
        if parcel is None or parcel.shipping is None or not parcel.shipping.label_key:
            raise NotFound(f"no label for parcel {parcel_id}")
        data = self.documents.get(parcel.shipping.label_key)
        if data is None:
            raise NotFound(f"the label file of parcel {parcel_id} is missing")
        return data

    # ------------------------------------------------------------------ the lists

    def project(self, detail: dict[str, Any]) -> int:
        """Refresh the list rows of an order's parcels from an order event's detail (idempotent: a row
        written from a newer version stays)."""
        order_id = str(detail.get("order_id") or "")
        if not order_id:
            return 0
        order = self.orders.get(order_id)
        if order is None:
            return 0
        rows, gone = [], []
        for parcel in order.fulfillments:
            row = parcel_row(order, parcel)
            (rows.append(row) if row else gone.append(parcel.fulfillment_id))
        if rows:
            self.store.upsert_parcels(rows, order.version)
        if gone:
            self.store.remove_parcels(gone, order.version)
        self._handed_over_by_marketplace(order)
        self._pickup_failed(order)
        return len(rows)

    def _pickup_failed(self, order: Order) -> None:
        """The marketplace says its courier's pickup failed: its arranged parcels are to arrange again (the
        next arrange says so to the marketplace: Shopee's update_shipping_order)."""
        if (order.channel_status or "").upper() not in PICKUP_FAILED.get(order.channel, ()):
            return
        arranged = {S.waiting_for_resi, S.label_ready, S.printed}
        # Only arrangements asked before the marketplace said so (one asked again since is a new try).
        parcels = [(order, p) for p in order.fulfillments if p.shipping and p.status in AT_NODE
                   and p.shipping.arranged_by is ArrangedBy.marketplace and p.shipping.state in arranged
                   and p.shipping.requested_at < order.channel_updated_at]  # fmt: skip
        if not parcels:
            return
        now = self.clock()
        failure = ShippingFailure(code=order.channel_status, message="the courier's pickup failed: arrange again",
                                  at=now)  # fmt: skip
        self._write(parcels, arranged, lambda shipping, _: shipping.model_copy(
            update={"state": S.arrange_failed, "failure": failure, "updated_at": now}))  # fmt: skip

    def _handed_over_by_marketplace(self, order: Order) -> None:
        """The marketplace says its courier has the order (its own tracking): its arranged parcels still at
        the node are shipped with their resi, as if the node had reported it (the stock leaves then)."""
        if self.hand_over is None or order.channel_state not in MARKETPLACE_HANDED_OVER:
            return
        for parcel in order.fulfillments:
            shipping = parcel.shipping
            if (shipping is None or shipping.arranged_by is not ArrangedBy.marketplace or not shipping.resi
                    or parcel.status not in AT_NODE):  # fmt: skip
                continue
            carrier = (shipping.carrier or order.channel.value).lower()[:40]
            try:
                self.hand_over(parcel.fulfillment_id, carrier, shipping.resi, f"channel:{order.channel.value}")
            except Conflict:
                continue  # moved on meanwhile (cancelled, shipped by the node): nothing to do

    # ------------------------------------------------------------------ helpers

    def _order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order

    def _orders_of(self, parcel_ids: Iterable[str]) -> dict[str, Order]:
        found = {}
        for order_id in dict.fromkeys(fulfillment_order_id(i) for i in parcel_ids):
            order = self.orders.get(order_id)
            if order is not None:
                found[order_id] = order
        return found

    def _ship_parcels(self, parcel_ids: Sequence[str]) -> tuple[list[ShipParcel], dict[str, OptionsView]]:
        orders = self._orders_of(parcel_ids)
        found, views = [], {}
        for parcel_id in dict.fromkeys(parcel_ids):
            order = orders.get(fulfillment_order_id(parcel_id))
            parcel = _find(order, parcel_id) if order else None
            if order is None or parcel is None:
                views[parcel_id] = OptionsView(parcel_id=parcel_id, error="no such parcel")
            elif order.channel in OWN_CHANNELS:
                views[parcel_id] = OptionsView(parcel_id=parcel_id, error="own-channel order: book a courier")
            else:
                found.append(_ship_parcel(order, parcel))
        return found, views

    def _parcels_in(
        self, ids: Iterable[str], states: set[ShippingState], arranged_by: ArrangedBy | None = None
    ) -> list[tuple[Order, Fulfillment]]:
        found = []
        orders = self._orders_of(ids)
        for parcel_id in dict.fromkeys(ids):
            order = orders.get(fulfillment_order_id(parcel_id))
            parcel = _find(order, parcel_id) if order else None
            if order is None or parcel is None or parcel.shipping is None or parcel.status not in AT_NODE:
                continue
            if parcel.shipping.state in states and (arranged_by is None or parcel.shipping.arranged_by is arranged_by):
                found.append((order, parcel))
        return found

    def _write(
        self, parcels: Sequence[tuple[Order, Fulfillment]], states: set[ShippingState],
        apply: Callable[[ParcelShipping, str], ParcelShipping],
    ) -> None:  # fmt: skip
        """Apply to each parcel's shipping, one write per order, only while it is still in `states`
        (a parcel moved on meanwhile is left as it is)."""
        by_order: dict[str, list[str]] = defaultdict(list)
        for order, parcel in parcels:
            by_order[order.order_id].append(parcel.fulfillment_id)
        for order_id, ids in by_order.items():

            def change(order: Order, ids: list[str] = ids) -> Order:
                fulfillments = list(order.fulfillments)
                touched = False
                for i, parcel in enumerate(fulfillments):
                    shipping = parcel.shipping
                    if parcel.fulfillment_id not in ids or shipping is None or shipping.state not in states:
                        continue
                    fulfillments[i] = parcel.model_copy(update={"shipping": apply(shipping, parcel.fulfillment_id)})
                    touched = True
                return _changed(order, fulfillments, self.clock(), "shipping") if touched else order

            update_order(self.orders, order_id, change)

    def _booking_request(self, order: Order, parcel: Fulfillment) -> BookingRequest:
        node = self.nodes().get(parcel.node_id)
        address = order.shipping_address
        if address is None:
            raise Conflict(f"order {order.order_number} has no shipping address")
        origin = Party(
            name=getattr(node, "name", None) or parcel.node_id,
            phone=getattr(node, "phone", None) or "-",
            address=", ".join(x for x in (getattr(node, "address", None), getattr(node, "city", None),
                                          getattr(node, "province", None)) if x) or parcel.node_id,
            postal_code=getattr(node, "postal_code", None),
            lat=getattr(node, "lat", None), lng=getattr(node, "lng", None),
        )  # fmt: skip
        destination = Party(
            name=address.name or order.customer.name or "-",
            phone=address.phone or order.customer.phone or "-",
            address=", ".join(x for x in (address.line1, address.line2, address.village, address.district,
                                          address.city, address.province) if x),
            postal_code=address.postal_code, email=order.customer.email, lat=address.lat, lng=address.lng,
            note=order.notes,
        )  # fmt: skip
        lines = {line.line_id: line for line in order.lines}
        items = tuple(
            BookingItem(name=(lines[x.line_id].name if x.line_id in lines else None) or x.sku, sku=x.sku,
                        quantity=x.quantity,
                        value=lines[x.line_id].unit_price if x.line_id in lines else Decimal(0),
                        weight_grams=DEFAULT_WEIGHT_GRAMS)
            for x in parcel.lines
        )  # fmt: skip
        cod = _parcel_value(order, parcel) if order.payment.cod else None
        return BookingRequest(parcel_id=parcel.fulfillment_id, reference=order.order_number, origin=origin,
                              destination=destination, items=items, cod_amount=cod)  # fmt: skip

    def _own_label(self, order: Order, parcel: Fulfillment) -> OwnLabel:
        request = self._booking_request(order, parcel)
        shipping = parcel.shipping
        assert shipping is not None and shipping.resi
        lines = {line.line_id: line for line in order.lines}
        return OwnLabel(
            parcel_id=parcel.fulfillment_id, order_number=order.order_number, channel=order.channel.value,
            sender=LabelParty(request.origin.name, request.origin.phone, _split(request.origin.address)),
            recipient=LabelParty(request.destination.name, request.destination.phone,
                                 (*_split(request.destination.address), request.destination.postal_code or "")),
            courier=(shipping.carrier or "").upper(), service=(shipping.service or "").upper() or None,
            resi=shipping.resi, cod_amount=request.cod_amount,
            lines=tuple(LabelLine(x.sku, lines[x.line_id].name if x.line_id in lines else None, x.quantity)
                        for x in parcel.lines),
            weight_grams=sum(i.weight_grams * i.quantity for i in request.items), ship_by=parcel.ship_by,
        )  # fmt: skip


def _changed(order: Order, fulfillments: list[Fulfillment], now: datetime, by: str) -> Order:
    return order.model_copy(update={"fulfillments": fulfillments, "version": order.version + 1, "updated_at": now,
                                    "changed_by": by})  # fmt: skip


def _find(order: Order | None, parcel_id: str) -> Fulfillment | None:
    if order is None:
        return None
    return next((f for f in order.fulfillments if f.fulfillment_id == parcel_id), None)


def _previous(parcel: Fulfillment, field: str) -> Any:
    return getattr(parcel.shipping, field) if parcel.shipping else None


def _resi(parcel: Fulfillment) -> str | None:
    return parcel.shipping.resi if parcel.shipping else None


def _by_order(parcel_ids: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for parcel_id in dict.fromkeys(parcel_ids):
        grouped[fulfillment_order_id(parcel_id)].append(parcel_id)
    return grouped


def _by_shop(items: Iterable[Any], parcel_of: Callable[[Any], ShipParcel] = lambda p: p) -> dict[tuple, list]:
    """Grouped by (channel, shop id): each shop is called with its own credentials."""
    grouped: dict[tuple, list] = defaultdict(list)
    for item in items:
        parcel = parcel_of(item)
        grouped[(parcel.channel, parcel.shop_id)].append(item)
    return grouped


def _by_arranger(pairs: Iterable[tuple[Order, Fulfillment]]) -> dict[ArrangedBy, list[tuple[Order, Fulfillment]]]:
    grouped: dict[ArrangedBy, list[tuple[Order, Fulfillment]]] = defaultdict(list)
    for order, parcel in pairs:
        grouped[parcel.shipping.arranged_by].append((order, parcel))  # type: ignore[union-attr]
    return grouped


def _ship_parcel(order: Order, parcel: Fulfillment) -> ShipParcel:
    shipping = parcel.shipping
    return ShipParcel(
        parcel_id=parcel.fulfillment_id, channel=order.channel, shop_id=order.shop_id,
        channel_order_id=order.channel_order_id, package_id=shipping.package_id if shipping else None,
        line_ids=tuple(line.line_id for line in parcel.lines), line_quantities=tuple(x.quantity for x in parcel.lines),
        resi=shipping.resi if shipping else None,
        siblings=tuple((tuple(x.line_id for x in other.lines), tuple(x.quantity for x in other.lines))
                       for other in order.fulfillments
                       if other.fulfillment_id != parcel.fulfillment_id and other.status not in ENDED),
    )  # fmt: skip


def _parcel_value(order: Order, parcel: Fulfillment) -> Decimal:
    """What the courier collects for this parcel: its lines' share of the order total (the first parcel
    also carries the shipping fee)."""
    lines = {line.line_id: line for line in order.lines}
    total = sum((lines[x.line_id].net_total * x.quantity / lines[x.line_id].quantity
                 for x in parcel.lines if x.line_id in lines), Decimal(0))  # fmt: skip
    first = min((f.fulfillment_id for f in order.fulfillments if f.status not in ENDED), default=None)
    if first == parcel.fulfillment_id:
        total += order.totals.shipping
    return total.quantize(Decimal(1))


def _pick_list(chosen: Sequence[tuple[Order, Fulfillment]]) -> tuple[PickLine, ...]:
    totals: dict[tuple[str, str], list[Any]] = {}
    for order, parcel in chosen:
        names = {line.line_id: line.name for line in order.lines}
        for line in parcel.lines:
            entry = totals.setdefault((parcel.node_id, line.sku), [names.get(line.line_id), 0, set()])
            entry[1] += line.quantity
            entry[2].add(parcel.fulfillment_id)
    return tuple(PickLine(sku=sku, name=name, quantity=qty, parcels=len(parcels), node_id=node)
                 for (node, sku), (name, qty, parcels) in sorted(totals.items()))  # fmt: skip


def _packing(order: Order, parcel: Fulfillment) -> PackingList:
    names = {line.line_id: line.name for line in order.lines}
    shipping = parcel.shipping
    return PackingList(
        parcel_id=parcel.fulfillment_id, order_number=order.order_number, channel=order.channel.value,
        resi=shipping.resi if shipping else None, courier=shipping.carrier if shipping else None,
        lines=tuple(LabelLine(x.sku, names.get(x.line_id), x.quantity) for x in parcel.lines), node_id=parcel.node_id,
    )  # fmt: skip


def _split(address: str) -> tuple[str, ...]:
    parts = [part.strip() for part in address.split(",") if part.strip()]
    return tuple(", ".join(parts[i : i + 2]) for i in range(0, len(parts), 2))
