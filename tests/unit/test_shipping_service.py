"""The shipping service over fakes: who may be arranged (and why not), the vendor's batches, the
resi that comes late, labels kept, own-courier bookings, print jobs, events and the list rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oms.domain.events import events_for_change
from oms.domain.shipping import ShippingService, Timing, parcel_row
from oms.domain.write_back import write_back_for
from oms.errors import DependencyError
from oms.models.events import EventType
from oms.models.order import Fulfillment, FulfillmentLine, FulfillmentStatus, Order, Shipment
from oms.models.shipping import ParcelShipping, ShippingState
from oms.ports.logistics import (
    ArrangeOutcome,
    ArrangeRequest,
    Booking,
    BookingRefused,
    BookingRequest,
    CourierRate,
    HandoverOptions,
    LabelOutcome,
    OwnLabel,
    PrintedSheet,
    PrintSheet,
    ResiOutcome,
    ShipParcel,
)
from tests.builders import draft_values
from tests.fakes.orders import FakeOrders

NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 10:00 WIB
S = ShippingState


class FakeLogistics:
    def __init__(self, batch: int = 50, resi_after: int = 0, ready_to_ship: bool = False) -> None:
        self.batch = batch
        self.resi_after = resi_after  # resi asks answered empty first
        self.asked: dict[str, int] = {}
        self.refuse: dict[str, tuple[str, str, bool]] = {}
        self.made = 0
        self.arranged: list[ArrangeRequest] = []
        self.label_pending = 0
        self.rts: list[str] = []
        self.has_rts = ready_to_ship

    def handover_options(self, parcels: Sequence[ShipParcel]) -> dict[str, HandoverOptions]:
        return {p.parcel_id: HandoverOptions(p.parcel_id, pickup=True, dropoff=True) for p in parcels}

    def arrange(self, requests: Sequence[ArrangeRequest]) -> dict[str, ArrangeOutcome]:
        self.made += -(-len(requests) // self.batch)
        self.arranged += requests
        found = {}
        for r in requests:
            if r.parcel.parcel_id in self.refuse:
                code, message, retry = self.refuse[r.parcel.parcel_id]
                found[r.parcel.parcel_id] = ArrangeOutcome(r.parcel.parcel_id, False, error_code=code, message=message,
                                                           retryable=retry)  # fmt: skip
            else:
                found[r.parcel.parcel_id] = ArrangeOutcome(
                    r.parcel.parcel_id, True, package_id="PKG-" + r.parcel.parcel_id
                )
        return found

    def resi(self, parcels: Sequence[ShipParcel]) -> dict[str, ResiOutcome]:
        found = {}
        for p in parcels:
            self.asked[p.parcel_id] = self.asked.get(p.parcel_id, 0) + 1
            late = self.asked[p.parcel_id] <= self.resi_after
            found[p.parcel_id] = ResiOutcome(
                p.parcel_id, resi=None if late else "SPX" + p.parcel_id.replace("-", ""), carrier="SPX"
            )
        return found

    def labels(self, parcels: Sequence[ShipParcel]) -> dict[str, LabelOutcome]:
        if self.label_pending:
            self.label_pending -= 1
            return {p.parcel_id: LabelOutcome(p.parcel_id, pending=True) for p in parcels}
        return {p.parcel_id: LabelOutcome(p.parcel_id, pdf=b"%PDF-label-" + p.parcel_id.encode()) for p in parcels}

    def ready_to_ship(self, parcels: Sequence[ShipParcel]) -> dict[str, str | None]:
        if not self.has_rts:
            return {}
        self.rts += [p.parcel_id for p in parcels]
        return {p.parcel_id: None for p in parcels}

    def calls(self) -> int:
        return self.made


class FakeCourier:
    def __init__(self) -> None:
        self.booked: list[tuple[BookingRequest, str, str]] = []
        self.refuse: str | None = None
        self.waybill_later = False

    def rates(self, request: BookingRequest) -> list[CourierRate]:
        return [CourierRate("jne", "reg", Decimal(12000), cod=True), CourierRate("sicepat", "reg", Decimal(9000))]

    def book(self, request: BookingRequest, courier: str, service: str) -> Booking:
        if self.refuse:
            raise BookingRefused("40002001", self.refuse)
        self.booked.append((request, courier, service))
        waybill = None if self.waybill_later else "WB" + request.parcel_id.replace("-", "")
        return Booking("BS-1", courier, service, waybill=waybill, price=Decimal(9000))

    def booking(self, booking_id: str) -> Booking:
        return Booking(booking_id, "sicepat", "reg", waybill="WB-LATE")


class FakePrinter:
    def __init__(self) -> None:
        self.sheets: list[PrintSheet] = []
        self.own: list[OwnLabel] = []

    def own_label(self, label: OwnLabel, size: str = "a6") -> bytes:
        self.own.append(label)
        return b"%PDF-own-" + label.resi.encode()

    def sheet(self, sheet: PrintSheet) -> PrintedSheet:
        self.sheets.append(sheet)
        failed = {pid: "corrupt" for pid, data in sheet.labels if data == b"bad"}
        return PrintedSheet(pdf=b"%PDF-sheet", pages=len(sheet.labels), failed=failed)


class FakeDocuments:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, content_type: str = "application/pdf") -> None:
        self.files[key] = data

    def get(self, key: str) -> bytes | None:
        return self.files.get(key)

    def get_many(self, keys) -> dict[str, bytes | None]:  # type: ignore[no-untyped-def]
        return {key: self.files.get(key) for key in keys}

    def url(self, key: str, seconds: int = 900) -> str:
        return f"https://labels.example/{key}?expires={seconds}"


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, dict]] = {}
        self.jobs: dict[str, dict] = {}

    def upsert_parcels(self, rows: Sequence[dict], version: int) -> None:
        for row in rows:
            if row["parcel_id"] not in self.rows or self.rows[row["parcel_id"]][0] < version:
                self.rows[row["parcel_id"]] = (version, row)

    def remove_parcels(self, parcel_ids: Sequence[str], version: int) -> None:
        for parcel_id in parcel_ids:
            self.rows.pop(parcel_id, None)

    def parcels(self, state: str, limit: int, cursor: str | None, channel=None, node_id=None, shop_id=None):
        return [row for _, row in self.rows.values() if row["state"] == state][:limit], None

    def counts(self) -> dict[str, int]:
        return {}

    def put_print_job(self, job: dict) -> None:
        self.jobs[job["job_id"]] = job

    def print_job(self, job_id: str) -> dict | None:
        return self.jobs.get(job_id)


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict, int]] = []

    def send(self, command: dict, delay_seconds: int = 0) -> None:
        self.sent.append((command, delay_seconds))

    def drain(self, service: ShippingService) -> None:
        """Run every queued step (delays pass at once: the test's clock is not the queue's)."""
        while self.sent:
            command, _ = self.sent.pop(0)
            service.run(command)


def a_parcel(
    order_id: str, n: int = 1, ship_by: datetime | None = None, status=FulfillmentStatus.accepted
) -> Fulfillment:
    return Fulfillment(fulfillment_id=f"{order_id}-F{n}", node_id="DC-CKG", delivery_method="ship",
                       service_level="regular", status=status,
                       lines=[FulfillmentLine(line_id="1", sku="TSHIRT-BLK-M", quantity=2)], reservation_id=f"R{n}",
                       planned_cost=Decimal(9000), round=1, created_at=NOW - timedelta(hours=1),
                       ship_by=ship_by or NOW + timedelta(days=1))  # fmt: skip


def an_order(order_id: str, channel: str = "shopee", parcels: list[Fulfillment] | None = None, **more: Any) -> Order:
    values = draft_values(channel=channel, channel_order_id=f"SN{order_id}")
    values |= {"order_id": order_id, "order_number": f"OMS-{order_id}", "status": "allocated", "priority": 5,
               "created_at": NOW - timedelta(hours=2), "updated_at": NOW - timedelta(hours=1), "version": 3,
               "content_hash": "h"}  # fmt: skip
    values["fulfillments"] = parcels if parcels is not None else [a_parcel(order_id)]
    values |= more
    return Order.model_validate(values)


class World:
    def __init__(self, *orders: Order, **logistics: Any) -> None:
        self.orders = FakeOrders(*orders)
        self.logistics = {"shopee": FakeLogistics(**logistics), "lazada": FakeLogistics(batch=20, ready_to_ship=True)}
        self.courier = FakeCourier()
        self.printer = FakePrinter()
        self.documents = FakeDocuments()
        self.store = FakeStore()
        self.queue = Queue()
        self.now = NOW

        def marketplace(channel, shop_id=None):
            if channel.value not in self.logistics:
                raise DependencyError(f"{channel.value}: shipping through its API is not supported yet")
            return self.logistics[channel.value]

        self.service = ShippingService(self.orders, marketplace, lambda: self.courier, lambda: self.printer,
                                       self.documents, self.store, self.queue, lambda: {}, lambda: self.now,
                                       Timing(resi_poll_seconds=300, resi_max_asks=3))  # fmt: skip

    def parcel(self, parcel_id: str) -> Fulfillment:
        order = self.orders.get(parcel_id.rsplit("-F", 1)[0])
        return next(f for f in order.fulfillments if f.fulfillment_id == parcel_id)


def test_arrange_marks_arranging_queues_one_command_per_channel_and_refuses_the_rest() -> None:
    world = World(
        an_order("o1"),
        an_order("o2", channel="lazada"),
        an_order(
            "o3", cancelled=True, status="cancelled", parcels=[a_parcel("o3", status=FulfillmentStatus.cancelled)]
        ),
        an_order("o4", parcels=[a_parcel("o4", ship_by=NOW - timedelta(minutes=1))]),
        an_order("o5", channel="web"),
        an_order("o6", holds=[{"code": "unknown_sku", "message": "x"}]),
        an_order("o7", channel="tiktok"),  # this world has no TikTok Shop logistics
    )
    answer = world.service.arrange(["o1-F1", "o2-F1", "o3-F1", "o4-F1", "o5-F1", "o6-F1", "o7-F1", "o9-F1"],
                                   "pickup", None, "ops:ana")  # fmt: skip

    outcome = {p.parcel_id: (p.outcome, p.reason) for p in answer.parcels}
    assert (answer.accepted, answer.refused) == (2, 6)
    assert outcome["o1-F1"][0] == outcome["o2-F1"][0] == "accepted"
    assert "cancelled" in outcome["o3-F1"][1]
    assert "past its ship-by" in outcome["o4-F1"][1]
    assert "book it instead" in outcome["o5-F1"][1]
    assert "on hold" in outcome["o6-F1"][1]
    assert "not supported" in outcome["o7-F1"][1]
    assert outcome["o9-F1"][0] == "not_found"
    assert world.parcel("o1-F1").shipping.state is S.arranging
    assert sorted(c["channel"] for c, _ in world.queue.sent) == ["lazada", "shopee"]

    again = world.service.arrange(["o1-F1"], "pickup", None, "ops:ana")
    assert again.accepted == 0 and "arranged already (arranging)" in again.parcels[0].reason


def test_sixty_parcels_are_arranged_in_the_vendors_batches_and_get_resi_late_then_labels() -> None:
    orders = [an_order(f"o{i:02d}") for i in range(60)]
    world = World(*orders, resi_after=2)
    world.service.arrange([f"o{i:02d}-F1" for i in range(60)], "pickup", None, "ops:ana")
    assert len(world.queue.sent) == 1

    world.service.run(world.queue.sent.pop(0)[0])
    assert world.logistics["shopee"].calls() == 2  # 60 parcels, 50 a call
    assert world.parcel("o00-F1").shipping.state is S.waiting_for_resi
    assert world.parcel("o00-F1").shipping.package_id == "PKG-o00-F1"
    step, delay = world.queue.sent[0]
    assert step["step"] == "resi" and delay == 300  # polled gently

    world.queue.drain(world.service)
    shipping = world.parcel("o00-F1").shipping
    assert (shipping.state, shipping.resi, shipping.resi_asks) == (S.label_ready, "SPXo00F1", 3)
    assert world.documents.files[shipping.label_key] == b"%PDF-label-o00-F1"


def test_a_resi_that_never_comes_stops_being_asked_and_says_so() -> None:
    world = World(an_order("o1"), resi_after=99)
    world.service.arrange(["o1-F1"], "dropoff", None, "ops")
    world.queue.drain(world.service)
    shipping = world.parcel("o1-F1").shipping
    assert shipping.state is S.waiting_for_resi and shipping.resi_asks == 3
    assert "no resi after 3 asks" in shipping.failure.message


def test_a_vendor_refusal_is_arrange_failed_with_its_words_and_may_be_arranged_again() -> None:
    world = World(an_order("o1"), an_order("o2"))
    world.logistics["shopee"].refuse["o1-F1"] = ("logistics.pickup_time_invalid", "Pickup time is invalid", False)
    world.service.arrange(["o1-F1", "o2-F1"], "pickup", "1:2", "ops")
    world.queue.drain(world.service)
    failed = world.parcel("o1-F1").shipping
    assert failed.state is S.arrange_failed
    assert (failed.failure.code, failed.failure.message) == ("logistics.pickup_time_invalid", "Pickup time is invalid")
    assert world.parcel("o2-F1").shipping.state is S.label_ready

    del world.logistics["shopee"].refuse["o1-F1"]
    assert world.service.arrange(["o1-F1"], "dropoff", None, "ops").accepted == 1
    world.queue.drain(world.service)
    assert world.parcel("o1-F1").shipping.state is S.label_ready
    assert world.logistics["shopee"].arranged[-1].again is False  # never arranged: not a failed pickup


def test_a_busy_vendor_is_tried_again_later_then_fails_after_five_tries() -> None:
    world = World(an_order("o1"))
    world.logistics["shopee"].refuse["o1-F1"] = ("error_busi_system", "system busy", True)
    world.service.arrange(["o1-F1"], "pickup", None, "ops")
    delays = []
    while world.queue.sent:
        command, delay = world.queue.sent.pop(0)
        delays.append(delay)
        world.service.run(command)
    assert delays == [0, 60, 60, 60, 60]
    assert world.parcel("o1-F1").shipping.state is S.arrange_failed
    assert world.parcel("o1-F1").shipping.attempts == 5


def test_a_repeated_arrange_command_calls_the_vendor_once() -> None:
    world = World(an_order("o1"))
    world.service.arrange(["o1-F1"], "pickup", None, "ops")
    command = world.queue.sent[0][0]
    world.service.run(command)
    world.service.run(command)
    assert len(world.logistics["shopee"].arranged) == 1


def test_lazada_is_told_ready_to_ship_once_its_label_is_kept() -> None:
    world = World(an_order("o1", channel="lazada"))
    world.service.arrange(["o1-F1"], "dropoff", None, "ops")
    world.queue.drain(world.service)
    shipping = world.parcel("o1-F1").shipping
    assert world.logistics["lazada"].rts == ["o1-F1"]
    assert shipping.state is S.label_ready and shipping.ready_to_ship_at == NOW


def test_a_resi_push_asks_at_once_and_the_queued_poll_then_does_nothing() -> None:
    world = World(an_order("o1"), resi_after=1)
    world.service.arrange(["o1-F1"], "pickup", None, "ops")
    world.service.run(world.queue.sent.pop(0)[0])
    poll = world.queue.sent.pop(0)[0]  # the delayed resi poll, still on its way
    assert world.service.run({"step": "nudge", "order_id": "o1"}) == {"nudged": 1}  # asked: not yet
    world.service.run({"step": "nudge", "order_id": "o1"})  # the push: now it is there
    assert world.parcel("o1-F1").shipping.resi == "SPXo1F1"
    world.queue.drain(world.service)  # the label step
    asks = dict(world.logistics["shopee"].asked)
    assert world.service.run(poll) == {"resi": 0}  # the poll comes late: nothing to ask
    assert world.logistics["shopee"].asked == asks
    assert world.parcel("o1-F1").shipping.state is S.label_ready


def test_own_courier_booking_takes_the_cheapest_and_draws_the_oms_label_with_cod() -> None:
    order = an_order("o1", channel="web", payment={"status": "pending", "cod": True, "method": "cod"})
    world = World(order)
    answer = world.service.book(["o1-F1"], None, None, "ops")
    assert answer.accepted == 1
    world.queue.drain(world.service)
    request, courier, service = world.courier.booked[0]
    assert (courier, service) == ("jne", "reg")  # the cheapest that takes cash on delivery
    assert request.cod_amount == Decimal(298000)  # 2 x 149000, the parcel's share
    shipping = world.parcel("o1-F1").shipping
    assert (shipping.state, shipping.resi, shipping.price) == (S.label_ready, "WBo1F1", Decimal(9000))
    assert world.printer.own[0].resi == shipping.resi and world.printer.own[0].cod_amount == Decimal(298000)


def test_a_refused_booking_fails_with_the_aggregators_words() -> None:
    world = World(an_order("o1", channel="web"))
    world.courier.refuse = "Destination postal code is invalid"
    world.service.book(["o1-F1"], "jne", "reg", "ops")
    world.queue.drain(world.service)
    shipping = world.parcel("o1-F1").shipping
    assert shipping.state is S.arrange_failed and shipping.failure.message == "Destination postal code is invalid"


def test_a_marketplace_parcel_cannot_be_booked() -> None:
    world = World(an_order("o1"))
    answer = world.service.book(["o1-F1"], None, None, "ops")
    assert answer.accepted == 0 and "arrange it" in answer.parcels[0].reason


def test_print_job_prints_what_has_a_label_reports_the_rest_and_marks_printed() -> None:
    world = World(an_order("o1"), an_order("o2"), an_order("o3"))
    world.service.arrange(["o1-F1", "o2-F1"], "pickup", None, "ops")
    world.queue.drain(world.service)
    world.documents.files[world.parcel("o2-F1").shipping.label_key] = b"bad"

    job = world.service.print_job(["o1-F1", "o2-F1", "o3-F1", "nope-F1"], "a4x4", False, "node:ckg", "PJ-1")

    printed = {p.parcel_id: (p.printed, p.reason) for p in job.parcels}
    assert printed["o1-F1"] == (True, None)
    assert printed["o2-F1"] == (False, "corrupt")
    assert printed["o3-F1"][1].startswith("no label yet (to_arrange)")
    assert printed["nope-F1"][1] == "no such parcel"
    assert (job.printed, job.failed) == (1, 3)
    assert world.parcel("o1-F1").shipping.state is S.printed
    assert world.parcel("o2-F1").shipping.state is S.label_ready
    sheet = world.printer.sheets[0]
    assert sheet.pick_list[0].sku == "TSHIRT-BLK-M" and sheet.pick_list[0].quantity == 4  # both parcels picked
    assert job.download_url.startswith("https://labels.example/print-jobs/2026/12/08/PJ-1.pdf")

    again = world.service.print_job(["o1-F1"], "a6", False, "ops", "PJ-2")
    assert again.printed == 0 and again.parcels[0].reason == "printed already: ask for a reprint"
    reprinted = world.service.print_job(["o1-F1"], "a6", True, "ops", "PJ-3")
    assert reprinted.printed == 1 and world.parcel("o1-F1").shipping.printed_count == 2


def test_events_and_rows_follow_the_shipping_state() -> None:
    world = World(an_order("o1"))
    before = world.orders.get("o1")
    world.service.arrange(["o1-F1"], "pickup", None, "ops")
    arranging = world.orders.get("o1")
    world.queue.drain(world.service)
    done = world.orders.get("o1")

    kinds = {e.event_type for e in events_for_change(arranging, done)}
    assert {EventType.shipment_arranged, EventType.resi_assigned, EventType.label_ready} <= kinds
    assert EventType.shipment_arranged not in {e.event_type for e in events_for_change(before, arranging)}
    assert parcel_row(before, before.fulfillments[0])["state"] == "to_arrange"
    assert parcel_row(done, done.fulfillments[0])["state"] == "label_ready"

    world.service.project({"order_id": "o1", "version": done.version})
    assert world.store.rows["o1-F1"][1]["resi"] == "SPXo1F1"


def test_handing_over_a_marketplace_parcel_is_not_written_back_to_the_marketplace() -> None:
    world = World(an_order("o1"))
    world.service.arrange(["o1-F1"], "pickup", None, "ops")
    world.queue.drain(world.service)
    ready = world.orders.get("o1")
    parcel = ready.fulfillments[0]
    handed = Shipment(carrier="spx", tracking_number=parcel.shipping.resi)
    moved = parcel.model_copy(update={"status": FulfillmentStatus.shipped, "shipment": handed})
    shipped = ready.model_copy(update={"version": ready.version + 1, "fulfillments": [moved]})
    events = events_for_change(ready, shipped)
    kinds = [e.event_type for e in events]
    assert EventType.parcel_handed_over in kinds
    shipped_event = next(e for e in events if e.event_type is EventType.fulfillment_shipped)
    body = {"event_id": shipped_event.event_id, "detail": shipped_event.detail}
    assert write_back_for("FulfillmentShipped", body) is None


@pytest.mark.parametrize("state", ["waiting_for_resi", "label_ready", "printed"])
def test_arranged_parcels_are_refused_with_their_state(state: str) -> None:
    shipping = ParcelShipping(arranged_by="marketplace", state=state, handover="pickup", requested_at=NOW,
                              updated_at=NOW)  # fmt: skip
    world = World(an_order("o1", parcels=[a_parcel("o1").model_copy(update={"shipping": shipping})]))
    answer = world.service.arrange(["o1-F1"], "pickup", None, "ops")
    assert answer.parcels[0].reason == f"arranged already ({state})"


def test_an_aggregator_outage_mid_batch_keeps_the_bookings_made_and_retries_only_the_rest() -> None:
    world = World(an_order("o1", channel="web"), an_order("o2", channel="web"))
    booked = world.courier.book
    calls = []

    def book_then_fail(request: BookingRequest, courier: str, service: str) -> Booking:
        calls.append(request.parcel_id)
        if len(calls) == 2:
            raise DependencyError("biteship answered 503")
        return booked(request, courier, service)

    world.courier.book = book_then_fail  # type: ignore[method-assign]
    world.service.book(["o1-F1", "o2-F1"], "jne", "reg", "ops")
    command = world.queue.sent.pop(0)[0]
    with pytest.raises(DependencyError):
        world.service.run(command)
    assert world.parcel("o1-F1").shipping.booking_id == "BS-1"
    world.service.run(command)  # SQS delivers it again
    assert calls == ["o1-F1", "o2-F1", "o2-F1"]
    assert world.parcel("o2-F1").shipping.state is S.waiting_for_resi


def test_a_failed_pickup_puts_the_parcel_back_to_arrange_and_the_next_arrange_says_again() -> None:
    world = World(an_order("o1"))
    world.service.arrange(["o1-F1"], "pickup", None, "ops")
    world.queue.drain(world.service)
    order = world.orders.get("o1")
    said = {"channel_status": "RETRY_SHIP", "channel_updated_at": NOW + timedelta(hours=2),
            "version": order.version + 1}  # fmt: skip
    world.orders.orders["o1"] = order.model_copy(update=said)

    world.service.project({"order_id": "o1"})

    shipping = world.parcel("o1-F1").shipping
    assert shipping.state is S.arrange_failed and shipping.failure.code == "RETRY_SHIP"
    world.now = NOW + timedelta(hours=2, minutes=30)  # ops arrange it again
    assert world.service.arrange(["o1-F1"], "pickup", None, "ops").accepted == 1
    world.queue.drain(world.service)
    assert world.logistics["shopee"].arranged[-1].again is True
    assert world.parcel("o1-F1").shipping.state is S.label_ready
    world.now = NOW + timedelta(hours=3)
    world.service.project({"order_id": "o1"})  # still RETRY_SHIP at Shopee until it takes the new one: no loop
    assert world.parcel("o1-F1").shipping.state is S.label_ready


def test_each_shop_is_called_with_its_own_credentials() -> None:
    world = World(an_order("o1", shop_id="880011"), an_order("o2", shop_id="880022"), an_order("o3", shop_id="880022"))
    by_shop = {"880011": FakeLogistics(), "880022": FakeLogistics()}
    world.service.marketplace = lambda channel, shop_id: by_shop[shop_id]
    answer = world.service.arrange(["o1-F1", "o2-F1", "o3-F1"], "dropoff", None, "ops")
    assert answer.accepted == 3
    assert [c["shop_id"] for c, _ in world.queue.sent] == ["880011", "880022"]  # one step per shop
    world.queue.drain(world.service)
    assert [r.parcel.parcel_id for r in by_shop["880022"].arranged] == ["o2-F1", "o3-F1"]
    assert [r.parcel.shop_id for r in by_shop["880011"].arranged] == ["880011"]
    assert world.parcel("o2-F1").shipping.state is S.label_ready
