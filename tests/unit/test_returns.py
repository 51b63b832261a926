"""Returns: the policy as rules (oms.domain.return_policy) and the RMA's life (oms.domain.returns), over
in-memory fakes. One web order of four lines, paid online (the provider's payment reference is known, so
refunds go through the gateway) and delivered from a DC near Jakarta, is returned in pieces.

The order (IDR, shipping 20 000, an order discount of 100 000 on top of a line discount):

    line  sku      qty  price    line discount  net       paid per unit (90 % of net)
    1     SHIRT    2    100 000  0              200 000   90 000
    2     CAP      1    110 000  10 000         100 000   90 000
    3     BLENDER  1    500 000  0              500 000   450 000  (supplier ACME)
    4     COFFEE   4    50 000   0              200 000   45 000   (food)

    goods 900 000 + shipping 20 000 = grand total 920 000

The catalog also knows SHIRT-L (priced as SHIRT: an exchange may swap them) and SHIRT-SILK (dearer).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oms.domain.capture import order_id_for
from oms.domain.return_policy import (
    Delivered,
    SkuFacts,
    check_line,
    default_policy,
    delivered_lines,
    refund_amount,
    returned_lines,
    route,
    rule_for,
    unit_refunds,
)
from oms.domain.returns import ReturnsService
from oms.domain.returns_authorization import ReturnRefused
from oms.domain.returns_receiving import ReturnStepRefused
from oms.domain.returns_settlement import refund_method
from oms.domain.returns_steps import rma_order_number
from oms.errors import Conflict, Forbidden, NotFound
from oms.models.inventory import Node
from oms.models.order import Channel, Fulfillment, FulfillmentLine, FulfillmentStatus, Order
from oms.models.returns import (
    Destination,
    Disposition,
    ExchangeLine,
    InspectedUnits,
    Payer,
    ReceivedLine,
    Refund,
    RefundMethod,
    RefundOutcomeKind,
    RefundPart,
    RefundReport,
    RefundStatus,
    RefundTiming,
    ReturnAccepted,
    ReturnCreate,
    ReturnInspection,
    ReturnLineRequest,
    ReturnMethod,
    ReturnPolicy,
    ReturnReason,
    ReturnReceipt,
    ReturnRule,
    Rma,
    RmaLine,
    RmaStatus,
    ShipBackTo,
    ShippingRefund,
    UnexpectedItem,
)
from tests.builders import draft_values
from tests.fakes import FakeClock, FakeOrders
from tests.fakes.returns import FakeCapture, FakeRestock

PLACED_AT = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
DELIVERED_AT = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
NOW = DELIVERED_AT + timedelta(days=3)

ORDER_ID = "ord_RETURNS1"
NUMBER = "OMS-0000123"
SKUS = {"1": "SHIRT", "2": "CAP", "3": "BLENDER", "4": "COFFEE"}
ALL_DELIVERED = {"1": 2, "2": 1, "3": 1, "4": 4}
PAID_PER_UNIT = {"1": Decimal(90000), "2": Decimal(90000), "3": Decimal(450000), "4": Decimal(45000)}

LINES = [
    {"line_id": "1", "sku": "SHIRT", "quantity": 2, "unit_price": "100000"},
    {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": "110000", "discount": "10000"},
    {"line_id": "3", "sku": "BLENDER", "quantity": 1, "unit_price": "500000"},
    {"line_id": "4", "sku": "COFFEE", "quantity": 4, "unit_price": "50000"},
]
TOTALS = {"subtotal": "1010000", "discount": "110000", "shipping": "20000", "grand_total": "920000"}
PAID_ONLINE = {"status": "paid", "cod": False, "method": "card", "reference": "pay_W1001"}
PAID_UNTRACED = {"status": "paid", "cod": False, "method": "bank transfer"}  # no provider reference: by hand

JAKARTA_BUYER = {
    "name": "Siti Rahayu",
    "line1": "Jl. Kebon Jeruk Raya No. 27",
    "city": "Jakarta Barat",
    "province": "DKI Jakarta",
    "postal_code": "11530",
    "lat": "-6.1683",
    "lng": "106.7588",
}
SURABAYA_BUYER = JAKARTA_BUYER | {"city": "Surabaya", "province": "Jawa Timur", "lat": "-7.2575", "lng": "112.7521"}

FACTS = {
    "SHIRT": SkuFacts(category="apparel", list_price=Decimal(100000)),
    "SHIRT-L": SkuFacts(category="apparel", list_price=Decimal(100000)),
    "SHIRT-SILK": SkuFacts(category="apparel", list_price=Decimal(250000)),
    "CAP": SkuFacts(category="apparel", list_price=Decimal(110000)),
    "BLENDER": SkuFacts(category="appliances", supplier="ACME", list_price=Decimal(500000)),
    "COFFEE": SkuFacts(category="food", list_price=Decimal(50000)),
}


def rma_id(n: int) -> str:
    return f"RMA-{NUMBER}-{n}"


def movement(n: int, position: int, before: int) -> str:
    """The restock of an inspection entry: RMA, the line's position on it, inspections the line had before."""
    return f"RET-{rma_id(n)}-{position}-{before}"


# ---------------------------------------------------------------- nodes


def a_node(node_id: str, kind: str, city: str, province: str, lat: str, lng: str, **flags: Any) -> Node:
    return Node(
        node_id=node_id,
        name=node_id,
        kind=kind,
        city=city,
        province=province,
        lat=Decimal(lat),
        lng=Decimal(lng),
        **flags,
    )


CENTER = {"accepts_returns": True, "return_center": True}
TAKES_NOT_RESELLS = {"accepts_returns": True, "restocks_returns": False}  # forwards resellable returns
NODES = {
    node.node_id: node
    for node in [
        a_node("DC-JKT", "dc", "Jakarta Timur", "DKI Jakarta", "-6.2250", "106.9004", **CENTER),
        a_node("DC-SBY", "dc", "Surabaya", "Jawa Timur", "-7.2575", "112.7521", **CENTER),
        a_node("DC-CKG", "dc", "Bekasi", "Jawa Barat", "-6.2615", "107.1526"),  # ships; takes no returns
        a_node("ST-BDG", "store", "Bandung", "Jawa Barat", "-6.9175", "107.6191", accepts_returns=True),
        a_node("ST-MAL", "store", "Jakarta Pusat", "DKI Jakarta", "-6.1865", "106.8341", **TAKES_NOT_RESELLS),
        a_node("ST-OFF", "store", "Bogor", "Jawa Barat", "-6.5950", "106.8166", accepts_returns=True, enabled=False),
        a_node("ST-NOR", "store", "Depok", "Jawa Barat", "-6.4025", "106.7942"),  # takes no returns
    ]
}


# ---------------------------------------------------------------- orders


def a_parcel(
    n: int,
    lines: dict[str, int],
    node_id: str = "DC-CKG",
    status: FulfillmentStatus = FulfillmentStatus.delivered,
    at: datetime = DELIVERED_AT,
) -> Fulfillment:
    return Fulfillment(
        fulfillment_id=f"{ORDER_ID}-F{n}",
        node_id=node_id,
        delivery_method="ship",
        service_level="regular",
        status=status,
        lines=[FulfillmentLine(line_id=line_id, sku=SKUS[line_id], quantity=q) for line_id, q in lines.items()],
        reservation_id=f"RES-{n}",
        planned_cost=Decimal(9000),
        round=1,
        created_at=PLACED_AT,
        status_at=at,
    )


def an_order(parcels: list[Fulfillment] | None = None, **overrides: Any) -> Order:
    values = draft_values(
        channel="web",
        channel_order_id="W-1001",
        placed_at=PLACED_AT,
        channel_updated_at=PLACED_AT,
        shipping_address=JAKARTA_BUYER,
        payment=PAID_ONLINE,
        lines=LINES,
        totals=TOTALS,
    )
    values |= {
        "order_id": ORDER_ID,
        "order_number": NUMBER,
        "status": "delivered",
        "priority": 5,
        "created_at": PLACED_AT,
        "updated_at": DELIVERED_AT,
        "version": 7,
        "content_hash": "h",
        "fulfillments": [a_parcel(1, ALL_DELIVERED)] if parcels is None else parcels,
    }
    values |= overrides
    return Order.model_validate(values)


def a_marketplace_order(parcels: list[Fulfillment] | None = None, **overrides: Any) -> Order:
    values = {"channel": "shopee", "payment": {"status": "paid", "method": "shopeepay"}} | overrides
    return an_order(parcels, **values)


# ---------------------------------------------------------------- policy and requests


def a_rule(name: str = "standard", **values: Any) -> ReturnRule:
    values.setdefault("defective_to_supplier", True)
    return ReturnRule(name=name, **values)


def a_policy(*rules: ReturnRule) -> ReturnPolicy:
    return ReturnPolicy(rules=list(rules) or [a_rule()])


def ask(line_id: str, quantity: int = 1, reason: str = "changed_mind", exchange_sku: str | None = None):
    return ReturnLineRequest(line_id=line_id, quantity=quantity, reason=reason, exchange_sku=exchange_sku)


def a_request(
    *lines: ReturnLineRequest,
    drop_off: str | None = None,
    resolution: str = "refund",
    request_id: str | None = None,
) -> ReturnCreate:
    return ReturnCreate(
        order_id=ORDER_ID,
        lines=list(lines),
        method="store_drop_off" if drop_off else "ship_back",
        drop_off_node_id=drop_off,
        resolution=resolution,
        request_id=request_id,
    )


def a_receipt(counts: dict[str, int], **values: Any) -> ReturnReceipt:
    return ReturnReceipt(lines=[ReceivedLine(line_id=k, quantity=v) for k, v in counts.items()], **values)


def an_inspection(*units: tuple[str, str, int], inspection_id: str | None = None) -> ReturnInspection:
    return ReturnInspection(
        units=[InspectedUnits(line_id=i, condition=c, quantity=q) for i, c, q in units], inspection_id=inspection_id
    )


def completed(reference: str | None = None) -> RefundReport:
    return RefundReport(outcome=RefundOutcomeKind.completed, reference=reference)


def failed(reason: str = "declined") -> RefundReport:
    return RefundReport(outcome=RefundOutcomeKind.failed, reason=reason)


# ---------------------------------------------------------------- fakes


class World:
    def __init__(
        self,
        order: Order | None = None,
        policy: ReturnPolicy | None = None,
        nodes: dict[str, Node] | None = None,
        capture: bool = True,
    ) -> None:
        self.orders = FakeOrders(order or an_order())
        self.inventory = FakeRestock()
        self.captured = FakeCapture()
        self.clock = FakeClock(NOW)
        self.policy = policy or a_policy()
        self.nodes = dict(NODES if nodes is None else nodes)
        self.facts = dict(FACTS)
        self.service = ReturnsService(
            self.orders,
            self.inventory,
            lambda: self.policy,
            lambda: self.nodes,
            lambda skus: {sku: self.facts[sku] for sku in skus if sku in self.facts},
            self.captured if capture else None,
            self.clock,
        )

    @property
    def order(self) -> Order:
        return self.orders.orders[ORDER_ID]

    def rma(self, n: int) -> Rma:
        return next(r for r in self.order.returns if r.rma_id == rma_id(n))

    def create(self, *lines: ReturnLineRequest, **kw: Any) -> ReturnAccepted:
        return self.service.create(a_request(*lines, **kw), by="cs:alice")

    def receive(self, n: int, counts: dict[str, int], **kw: Any) -> Rma:
        return self.service.receive(rma_id(n), a_receipt(counts), by="node:DC-JKT", **kw)

    def inspect(self, n: int, *units: tuple[str, str, int], inspection_id: str | None = None, **kw: Any) -> Rma:
        return self.service.inspect(
            rma_id(n), an_inspection(*units, inspection_id=inspection_id), by="node:DC-JKT", **kw
        )

    def report(self, n: int, report: RefundReport, attempt: int | None = None, by: str = "ops:bob") -> Rma:
        return self.service.report_refund(rma_id(n), report, by=by, attempt=attempt)

    def unchanged_since(self, before: Order) -> bool:
        return self.order == before


def refused_rules(error: pytest.ExceptionInfo[ReturnRefused]) -> list[tuple[str | None, str]]:
    return [(d["line_id"], d["rule"]) for d in error.value.details]


def parts_of(parts) -> dict[str, Decimal]:
    return {part.label: part.amount for part in parts}


def received_at_jkt(*lines: ReturnLineRequest, world: World | None = None) -> World:
    """Lines returned (to DC-JKT, which restocks) and all of them received."""
    world = world or World()
    world.create(*lines)
    world.receive(1, {line.line_id: line.quantity for line in lines})
    return world


# ================================================================ 1. policy checks


def test_a_return_after_the_window_is_refused_and_on_its_last_moment_accepted():
    late = World()
    late.clock.now = DELIVERED_AT + timedelta(days=14, seconds=1)
    with pytest.raises(ReturnRefused) as refused:
        late.create(ask("1"))
    assert refused.value.status_code == 422
    assert refused_rules(refused) == [("1", "return_window")]
    assert "14 days" in refused.value.details[0]["message"]

    on_time = World()
    on_time.clock.now = DELIVERED_AT + timedelta(days=14)
    assert on_time.create(ask("1")).outcome == "created"


def test_the_window_runs_from_the_latest_delivery_of_the_line():
    parcels = [
        a_parcel(1, {"1": 1, "2": 1, "3": 1, "4": 4}),
        a_parcel(2, {"1": 1}, at=DELIVERED_AT + timedelta(days=10)),
    ]
    world = World(an_order(parcels))
    world.clock.now = DELIVERED_AT + timedelta(days=20)
    assert world.create(ask("1", 2)).rmas[0].lines[0].quantity == 2
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("2"))
    assert refused_rules(refused) == [("2", "return_window")]


def test_no_more_than_delivered_less_what_is_already_on_returns():
    parcels = [
        a_parcel(1, {"1": 2, "2": 1, "3": 1, "4": 2}),
        a_parcel(2, {"4": 2}, status=FulfillmentStatus.in_transit),
    ]
    world = World(an_order(parcels))
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("4", 3))  # two are still on the road
    assert refused_rules(refused) == [("4", "quantity")]
    assert "(2 may be returned)" in refused.value.details[0]["message"]

    world.create(ask("1", 1))
    with pytest.raises(ReturnRefused) as again:
        world.create(ask("1", 2))
    assert refused_rules(again) == [("1", "quantity")]
    assert "1 already returned (1 may be returned)" in again.value.details[0]["message"]
    assert world.create(ask("1", 1)).outcome == "created"


ON_THE_WAY = [
    FulfillmentStatus.shipped,
    FulfillmentStatus.in_transit,
    FulfillmentStatus.out_for_delivery,
    FulfillmentStatus.failed_attempt,
]


@pytest.mark.parametrize("status", ON_THE_WAY)
@pytest.mark.parametrize("state", ["delivered", "return_requested", "completed", "returned"])
def test_a_marketplace_that_says_delivered_is_believed_for_parcels_on_their_way(state, status):
    handed_over = DELIVERED_AT - timedelta(days=1)
    parcels = [a_parcel(1, {"1": 2, "2": 1}), a_parcel(2, {"3": 1, "4": 4}, status=status, at=handed_over)]
    got = delivered_lines(a_marketplace_order(parcels, channel_state=state))
    assert got["1"] == Delivered(2, DELIVERED_AT, "DC-CKG")
    assert got["3"] == Delivered(1, handed_over, "DC-CKG")  # from the parcel's own status time


@pytest.mark.parametrize("state", [None, "ready", "shipped", "cancelled"])
def test_parcels_on_their_way_wait_for_the_carrier_until_the_marketplace_says_delivered(state):
    parcels = [a_parcel(1, {"1": 2, "2": 1}), a_parcel(2, {"3": 1, "4": 4}, status=FulfillmentStatus.in_transit)]
    assert set(delivered_lines(a_marketplace_order(parcels, channel_state=state))) == {"1", "2"}


def test_parcels_not_yet_handed_over_never_count_even_when_the_marketplace_says_delivered():
    parcels = [a_parcel(1, {"1": 2}), a_parcel(2, {"3": 1}, status=FulfillmentStatus.packed)]
    assert set(delivered_lines(a_marketplace_order(parcels, channel_state="delivered"))) == {"1"}


def test_a_marketplace_return_of_a_parcel_its_channel_says_arrived_is_accepted():
    parcels = [a_parcel(1, ALL_DELIVERED, status=FulfillmentStatus.in_transit)]
    world = World(a_marketplace_order(parcels, channel_state="delivered"))
    rma = world.create(ask("1", 2)).rmas[0]
    assert rma.refund.method is RefundMethod.channel and rma.lines[0].quantity == 2


def test_a_line_or_an_order_never_delivered_cannot_be_returned():
    in_transit = [a_parcel(1, {"1": 2, "2": 1}), a_parcel(2, {"3": 1, "4": 4}, status=FulfillmentStatus.in_transit)]
    with pytest.raises(ReturnRefused) as refused:
        World(an_order(in_transit)).create(ask("3", reason="defective"))
    assert refused_rules(refused) == [("3", "not_delivered")]

    with pytest.raises(ReturnRefused) as nothing:
        World(an_order([])).create(ask("1"))
    assert refused_rules(nothing) == [("1", "not_delivered")]


def test_a_picked_up_parcel_counts_as_delivered():
    parcels = [a_parcel(1, ALL_DELIVERED, node_id="ST-BDG", status=FulfillmentStatus.picked_up)]
    assert World(an_order(parcels)).create(ask("1")).outcome == "created"


def test_an_unknown_line_is_refused():
    with pytest.raises(ReturnRefused) as refused:
        World().create(ask("9"))
    assert refused_rules(refused) == [("9", "unknown_line")]


def test_a_non_returnable_sku_or_rule_is_refused_naming_the_rule():
    policy = a_policy(a_rule(non_returnable_skus=["CAP"]))
    with pytest.raises(ReturnRefused) as sku:
        World(policy=policy).create(ask("2"))
    assert refused_rules(sku) == [("2", "non_returnable")]
    assert "'standard'" in sku.value.details[0]["message"]

    with pytest.raises(ReturnRefused) as food:  # default policy: food only when it is the seller's fault
        World(policy=default_policy()).create(ask("4", reason="changed_mind"))
    assert refused_rules(food) == [("4", "non_returnable")]
    assert "'food'" in food.value.details[0]["message"]


def test_a_line_no_rule_covers_is_refused():
    policy = a_policy(a_rule("marketplaces only", channels=[Channel.shopee, Channel.lazada]))
    with pytest.raises(ReturnRefused) as refused:
        World(policy=policy).create(ask("1"))
    assert refused_rules(refused) == [("1", "no_rule")]


@pytest.mark.parametrize("store", ["ST-NOR", "ST-OFF", "ST-GONE"], ids=["no returns", "disabled", "unknown"])
def test_a_drop_off_where_returns_are_not_taken_is_refused(store: str):
    with pytest.raises(ReturnRefused) as refused:
        World().create(ask("1"), drop_off=store)
    assert refused_rules(refused) == [(None, "drop_off_store")]


def test_every_broken_rule_is_named_and_a_refused_request_changes_nothing():
    world = World(policy=default_policy())
    before = world.order
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("1", 3), ask("4"), ask("9"), drop_off="ST-NOR", request_id="req-1")
    assert refused_rules(refused) == [
        (None, "drop_off_store"),
        ("1", "quantity"),
        ("4", "non_returnable"),
        ("9", "unknown_line"),
    ]
    assert str(refused.value).startswith("drop_off_store:") and "(and 3 more)" in str(refused.value)
    assert world.unchanged_since(before) and world.order.returns == [] and world.orders.writes == 0
    # The same request_id, corrected, is a new request (nothing was kept of the refused one).
    assert world.create(ask("1", 2), request_id="req-1").outcome == "created"


def test_a_marketplace_key_may_not_return_another_channels_order():
    world = World()
    with pytest.raises(Forbidden):
        world.service.create(a_request(ask("1")), by="channel:shopee", acting_for={Channel.shopee})
    assert world.orders.writes == 0
    with pytest.raises(NotFound):
        world.service.create(a_request(ask("1")).model_copy(update={"order_id": "ord_NONE"}), by="cs:alice")


# ================================================================ 2. rule_for


@pytest.mark.parametrize(
    ("channel", "category", "reason", "rule"),
    [
        (Channel.web, "food", ReturnReason.changed_mind, "food"),
        (Channel.web, "food", ReturnReason.defective, "food, seller's fault"),
        (Channel.shopee, "food", ReturnReason.damaged_in_transit, "food, seller's fault"),
        (Channel.shopee, "food", ReturnReason.wrong_size, "food"),
        (Channel.shopee, "apparel", ReturnReason.changed_mind, "marketplaces"),
        (Channel.tokopedia, None, ReturnReason.defective, "marketplaces"),
        (Channel.web, "apparel", ReturnReason.changed_mind, "default"),
        (Channel.shopify, None, ReturnReason.other, "default"),
    ],
)
def test_the_default_policy_picks_the_first_rule_by_channel_category_and_reason(channel, category, reason, rule):
    assert rule_for(default_policy(), channel, category, reason).name == rule


def test_the_default_policy_terms():
    rules = {rule.name: rule for rule in default_policy().rules}
    assert rules["food, seller's fault"].window_days == 3 and not rules["food"].returnable
    assert rules["marketplaces"].return_shipping_paid_by is Payer.seller and rules["marketplaces"].window_days == 15
    assert rules["default"].window_days == 14 and rules["default"].return_shipping_fee == 15000


def test_rule_for_takes_the_first_match_in_order_and_none_when_nothing_matches():
    policy = a_policy(
        a_rule("wrong size, web", channels=[Channel.web], reasons=[ReturnReason.wrong_size]),
        a_rule("apparel", categories=["apparel"]),
        a_rule("apparel again", categories=["apparel"]),
    )
    assert rule_for(policy, Channel.web, "apparel", ReturnReason.wrong_size).name == "wrong size, web"
    assert rule_for(policy, Channel.pos, "apparel", ReturnReason.wrong_size).name == "apparel"
    assert rule_for(policy, Channel.web, "apparel", ReturnReason.other).name == "apparel"
    assert rule_for(policy, Channel.web, None, ReturnReason.other) is None  # an unknown category is no category


def test_check_line_names_the_first_rule_broken_in_order():
    rule = a_rule(returnable=False)
    got = Delivered(2, DELIVERED_AT, "DC-CKG")
    late = DELIVERED_AT + timedelta(days=99)
    assert check_line(rule, "1", "SHIRT", 1, None, 0, late).rule == "not_delivered"
    assert check_line(rule, "1", "SHIRT", 3, got, 0, late).rule == "quantity"
    assert check_line(None, "1", "SHIRT", 1, got, 0, late).rule == "no_rule"
    assert check_line(rule, "1", "SHIRT", 1, got, 0, late).rule == "non_returnable"
    assert check_line(a_rule(), "1", "SHIRT", 1, got, 0, late).rule == "return_window"
    assert check_line(a_rule(), "1", "SHIRT", 2, got, 0, NOW) is None


# ================================================================ 3. routing and split


def test_a_store_drop_off_goes_to_that_store():
    rma = World().create(ask("1"), drop_off="ST-BDG").rmas[0]
    assert rma.destination == Destination(node_id="ST-BDG", why="drop-off store")
    assert rma.method is ReturnMethod.store_drop_off


@pytest.mark.parametrize(("buyer", "center"), [(JAKARTA_BUYER, "DC-JKT"), (SURABAYA_BUYER, "DC-SBY")])
def test_a_ship_back_goes_to_the_return_center_nearest_the_buyer(buyer, center):
    rma = World(an_order(shipping_address=buyer)).create(ask("1")).rmas[0]
    assert rma.destination == Destination(node_id=center, why="nearest return center")


def test_a_pickup_order_goes_to_the_return_center_nearest_its_store():
    order = an_order([a_parcel(1, ALL_DELIVERED, node_id="ST-SBY")], shipping_address=None)
    nodes = NODES | {"ST-SBY": a_node("ST-SBY", "store", "Surabaya", "Jawa Timur", "-7.2700", "112.7400")}
    rule = a_rule()
    got = delivered_lines(order)["1"]
    where = route(order, ReturnReason.wrong_size, rule, ReturnMethod.ship_back, None, got, FACTS["SHIRT"], nodes)
    assert where.node_id == "DC-SBY"


def test_original_node_goes_back_to_the_shipper_when_it_takes_returns_else_to_the_nearest_center():
    policy = a_policy(a_rule(ship_back_to=ShipBackTo.original_node))
    from_store = World(an_order([a_parcel(1, ALL_DELIVERED, node_id="ST-BDG")]), policy=policy)
    assert from_store.create(ask("1")).rmas[0].destination == Destination(node_id="ST-BDG", why="original node")

    from_dc = World(an_order([a_parcel(1, ALL_DELIVERED, node_id="DC-CKG")]), policy=policy)  # takes no returns
    assert from_dc.create(ask("1")).rmas[0].destination.node_id == "DC-JKT"


def test_a_defective_unit_with_a_supplier_goes_to_the_supplier_only_when_the_rule_says_so():
    world = World()
    rma = world.create(ask("3", reason="defective")).rmas[0]
    assert rma.destination == Destination(supplier="ACME", why="supplier (vendor return)")
    assert rma.destination.key == "supplier:ACME"
    # No supplier for the SKU, another reason, or a rule that keeps vendor returns in house: a return center.
    assert world.create(ask("1", reason="defective")).rmas[0].destination.node_id == "DC-JKT"
    keep = World(policy=a_policy(a_rule(defective_to_supplier=False)))
    assert keep.create(ask("3", reason="defective")).rmas[0].destination.node_id == "DC-JKT"
    assert World().create(ask("3", reason="wrong_item")).rmas[0].destination.node_id == "DC-JKT"


def test_lines_going_to_different_places_make_one_rma_each_numbered_on_the_order():
    world = World()
    accepted = world.create(ask("1", 2), ask("3", reason="defective"), ask("2"))
    assert accepted.outcome == "created" and accepted.order_id == ORDER_ID
    assert [(r.rma_id, r.destination.key, [line.line_id for line in r.lines]) for r in accepted.rmas] == [
        (rma_id(1), "node:DC-JKT", ["1", "2"]),
        (rma_id(2), "supplier:ACME", ["3"]),
    ]
    assert [r.rma_id for r in world.order.returns] == [rma_id(1), rma_id(2)]
    assert world.order.version == 8 and world.order.changed_by == "cs:alice" and world.orders.writes == 1
    assert world.create(ask("4")).rmas[0].rma_id == rma_id(3)


def test_the_rma_carries_its_terms():
    rule = a_rule(refund_timing=RefundTiming.on_receipt, restocking_fee_pct=Decimal(10))
    rma = World(policy=a_policy(rule)).create(ask("1", 2)).rmas[0]
    assert rma.status is RmaStatus.authorized and rma.by == "cs:alice" and rma.created_at == NOW
    assert rma.terms == rule and rma.return_shipping_paid_by is Payer.buyer and rma.return_shipping_fee == 0
    assert rma.refund == Refund(method=RefundMethod.gateway, currency="IDR", timing=RefundTiming.on_receipt)
    assert rma.exchange_lines == [] and rma.exchange_order_id is None and rma.cancelled_at is None
    assert rma.lines[0].model_dump(include={"sku", "quantity", "unit_refund", "rule", "received"}) == {
        "sku": "SHIRT",
        "quantity": 2,
        "unit_refund": Decimal(90000),
        "rule": "standard",
        "received": None,
    }


def test_the_terms_stay_as_they_were_when_the_return_was_accepted():
    world = World(policy=a_policy(a_rule(restocking_fee_pct=Decimal(10))))
    world.create(ask("1", 2))
    world.policy = a_policy(a_rule(restocking_fee_pct=Decimal(50), refund_timing=RefundTiming.on_request))
    world.receive(1, {"1": 2})
    rma = world.inspect(1, ("1", "resellable", 2))
    assert rma.refund.timing is RefundTiming.on_inspection
    assert parts_of(rma.refund.parts) == {"goods": Decimal(180000), "restocking fee": Decimal(-18000)}


SPLIT_BY_RULE = a_policy(
    a_rule("apparel", categories=["apparel"], return_shipping_fee=Decimal(10000), refund_timing="on_receipt"),
    a_rule("standard", return_shipping_fee=Decimal(15000)),
)


def test_lines_to_one_place_under_different_rules_make_one_rma_per_rule_with_its_own_terms():
    world = World(policy=SPLIT_BY_RULE)
    apparel, standard = world.create(ask("1", 2), ask("3"), ask("2")).rmas
    assert [
        (r.rma_id, r.destination.key, r.terms.name, [line.line_id for line in r.lines]) for r in (apparel, standard)
    ] == [
        (rma_id(1), "node:DC-JKT", "apparel", ["1", "2"]),
        (rma_id(2), "node:DC-JKT", "standard", ["3"]),
    ]
    assert (apparel.refund.timing, standard.refund.timing) == (RefundTiming.on_receipt, RefundTiming.on_inspection)
    # One parcel back to DC-JKT: the buyer pays the largest fee of the rules going there, once.
    assert (apparel.return_shipping_fee, standard.return_shipping_fee) == (Decimal(15000), 0)
    assert world.orders.writes == 1


def test_the_return_shipping_fee_is_charged_on_the_first_rma_the_buyer_pays_shipping_for():
    world = World(policy=SPLIT_BY_RULE)
    sellers, buyers = world.create(ask("1", 2, "wrong_item"), ask("3")).rmas
    # One parcel goes back, and a line in it is the seller's fault: the seller pays its shipping, whatever rules.
    assert (sellers.terms.name, sellers.return_shipping_paid_by, sellers.return_shipping_fee) == (
        "apparel",
        Payer.seller,
        0,
    )
    assert (buyers.terms.name, buyers.return_shipping_paid_by, buyers.return_shipping_fee) == (
        "standard",
        Payer.seller,
        0,
    )
    # Without it, the buyer pays the dearest fee once, on the first RMA of the place.
    first, second = World(policy=SPLIT_BY_RULE).create(ask("1", 2), ask("3")).rmas
    assert (first.return_shipping_paid_by, first.return_shipping_fee) == (Payer.buyer, Decimal(15000))
    assert (second.return_shipping_paid_by, second.return_shipping_fee) == (Payer.buyer, 0)


def test_each_place_the_buyer_ships_to_charges_its_own_fee_and_each_request_its_own():
    policy = a_policy(
        a_rule("apparel", categories=["apparel"], return_shipping_fee=Decimal(10000), ship_back_to="original_node"),
        a_rule("standard", return_shipping_fee=Decimal(15000)),
    )
    world = World(an_order([a_parcel(1, ALL_DELIVERED, node_id="ST-BDG")]), policy=policy)
    to_store, to_center = world.create(ask("1"), ask("3")).rmas
    assert (to_store.destination.node_id, to_store.return_shipping_fee) == ("ST-BDG", Decimal(10000))
    assert (to_center.destination.node_id, to_center.return_shipping_fee) == ("DC-JKT", Decimal(15000))
    assert world.create(ask("1")).rmas[0].return_shipping_fee == Decimal(10000)  # another request, another parcel


def test_no_return_shipping_fee_for_a_drop_off_or_the_sellers_fault():
    policy = a_policy(a_rule(return_shipping_fee=Decimal(15000)))
    assert World(policy=policy).create(ask("1"), drop_off="ST-BDG").rmas[0].return_shipping_fee == 0
    assert World(policy=policy).create(ask("1", reason="not_as_described")).rmas[0].return_shipping_fee == 0
    assert World(policy=policy).create(ask("1")).rmas[0].return_shipping_fee == Decimal(15000)


def test_the_seller_pays_return_shipping_when_any_line_is_its_fault():
    rma = World().create(ask("1"), ask("2", reason="not_as_described")).rmas[0]
    assert rma.return_shipping_paid_by is Payer.seller


def test_no_node_to_take_a_return_is_a_refusal():
    nodes = {k: v for k, v in NODES.items() if not v.return_center}
    with pytest.raises(ReturnRefused) as refused:
        World(nodes=nodes).create(ask("1"))
    assert refused_rules(refused) == [("1", "no_return_node")]


# ================================================================ 4. request_id


def test_the_same_request_id_again_returns_the_same_rmas_without_a_write():
    world = World()
    first = world.create(ask("1"), ask("3", reason="defective"), request_id="cs-77")
    version = world.order.version
    again = world.create(ask("1"), ask("3", reason="defective"), request_id="cs-77")
    assert again.outcome == "duplicate" and again.rmas == first.rmas
    assert world.order.version == version and world.orders.writes == 1 and len(world.order.returns) == 2


def test_a_create_that_keeps_losing_the_race_gives_up_retryably():
    world = World()
    world.orders.conflicts = 5
    with pytest.raises(Conflict) as conflict:
        world.create(ask("1"))
    assert conflict.value.details == {"retryable": True} and world.order.returns == []

    world.orders.conflicts = 1  # one lost race: read again, decide again, write
    assert world.create(ask("1")).rmas[0].rma_id == rma_id(1) and world.orders.writes == 1


# ================================================================ 5. unit_refunds


def test_unit_refunds_prorate_line_and_order_discounts_and_leave_shipping_out():
    assert unit_refunds(an_order()) == PAID_PER_UNIT


def test_unit_refunds_round_down_to_the_currencys_unit():
    lines = [{"line_id": "1", "sku": "SHIRT", "quantity": 3, "unit_price": "33334"}]
    totals = {"subtotal": "100002", "discount": "2", "shipping": "9000", "grand_total": "109000"}
    assert unit_refunds(an_order(lines=lines, totals=totals)) == {"1": Decimal(33333)}  # 100 000 / 3

    usd = an_order(lines=lines, totals=totals | {"grand_total": "9100.01", "shipping": "0"}, currency="USD")
    assert unit_refunds(usd) == {"1": Decimal("3033.33")}


def test_unit_refunds_never_add_up_to_more_than_was_paid_for_the_goods():
    rng = random.Random(20261112)
    for _ in range(300):
        lines = []
        for n in range(1, rng.randint(1, 5) + 1):
            quantity, price = rng.randint(1, 7), rng.randint(1, 400) * 1000 + rng.randint(0, 999)
            discount = rng.randint(0, quantity * price // 3)
            lines.append(
                {"line_id": str(n), "sku": "SHIRT", "quantity": quantity, "unit_price": price, "discount": discount}
            )
        net = sum(line["quantity"] * line["unit_price"] - line["discount"] for line in lines)
        shipping, order_discount = rng.randint(0, 50) * 1000, rng.randint(0, net // 4)
        grand = net - order_discount + shipping
        totals = {"subtotal": net, "discount": order_discount, "shipping": shipping, "grand_total": grand}
        order = an_order(lines=lines, totals=totals)
        units = unit_refunds(order)
        paid = sum(units[line.line_id] * line.quantity for line in order.lines)
        assert paid <= grand - shipping
        assert grand - shipping - paid < sum(line.quantity for line in order.lines)  # less than 1 per unit lost
        assert all(value == value.to_integral_value() for value in units.values())


# ================================================================ 6. refund_amount


def rma_line(line_id: str, quantity: int, reason: str = "changed_mind", received: int | None = None) -> RmaLine:
    return RmaLine(
        line_id=line_id,
        sku=SKUS[line_id],
        quantity=quantity,
        reason=reason,
        unit_refund=PAID_PER_UNIT[line_id],
        rule="standard",
        received=received,
    )


def an_rma(
    *lines: RmaLine,
    n: int = 1,
    terms: ReturnRule | None = None,
    fee: Decimal | int = 0,
    payer: str = "buyer",
    timing: str = "on_inspection",
    **values: Any,
) -> Rma:
    return Rma(
        rma_id=rma_id(n),
        method="ship_back",
        resolution="refund",
        destination=Destination(node_id="DC-JKT", why="nearest return center"),
        lines=list(lines),
        return_shipping_paid_by=payer,
        return_shipping_fee=Decimal(fee),
        terms=terms or a_rule(),
        refund=Refund(method="gateway", timing=timing),
        created_at=NOW,
        updated_at=NOW,
        by="cs:alice",
        **values,
    )


def amount_for(rma: Rma, order: Order | None = None, elsewhere=Decimal(0), shipping=False):
    order = order or an_order(returns=[rma])
    units = {line.line_id: line.quantity for line in rma.lines}
    return refund_amount(order, rma, units, elsewhere, shipping)


def test_the_restocking_fee_is_taken_only_on_lines_that_are_not_the_sellers_fault():
    rma = an_rma(rma_line("1", 2), rma_line("3", 1, "defective"), terms=a_rule(restocking_fee_pct=Decimal("12.5")))
    amount, parts = amount_for(rma)
    assert parts_of(parts) == {"goods": Decimal(630000), "restocking fee": Decimal(-22500)}
    assert amount == Decimal(607500)


def test_the_rmas_return_shipping_fee_is_taken_once():
    amount, parts = amount_for(an_rma(rma_line("1", 2), rma_line("2", 1), fee=15000))
    assert parts_of(parts) == {"goods": Decimal(270000), "return shipping": Decimal(-15000)}
    assert amount == Decimal(255000)


def test_the_rules_fee_is_not_taken_when_the_rma_carries_none():
    # The fee was placed on another RMA of the same parcel (or the buyer dropped it off, or it is the seller's fault).
    rma = an_rma(rma_line("1", 2), terms=a_rule(return_shipping_fee=Decimal(15000)), fee=0)
    assert amount_for(rma) == (Decimal(180000), [RefundPart(label="goods", amount=Decimal(180000))])


def test_no_fee_is_taken_from_a_refund_of_nothing():
    rma = an_rma(rma_line("1", 2), fee=15000)
    amount, parts = refund_amount(an_order(returns=[rma]), rma, {"1": 0}, Decimal(0), False)
    assert (amount, parts_of(parts)) == (0, {"goods": 0})


def test_the_fee_follows_from_the_service_as_well():
    world = World(policy=a_policy(a_rule(return_shipping_fee=Decimal(15000), restocking_fee_pct=Decimal(10))))
    world.create(ask("1", 2))
    world.receive(1, {"1": 2})
    refund = world.inspect(1, ("1", "resellable", 2)).refund
    assert refund.amount == Decimal(147000)  # 180 000 - 18 000 - 15 000
    assert parts_of(refund.parts) == {"goods": 180000, "restocking fee": -18000, "return shipping": -15000}


def every_line(reason: str) -> list[RmaLine]:
    return [rma_line(line_id, quantity, reason) for line_id, quantity in ALL_DELIVERED.items()]


@pytest.mark.parametrize(
    ("refund_shipping", "reason", "refunded"),
    [
        (ShippingRefund.seller_fault, "not_as_described", True),
        (ShippingRefund.seller_fault, "changed_mind", False),
        (ShippingRefund.always, "changed_mind", True),
        (ShippingRefund.never, "wrong_item", False),
    ],
)
def test_original_shipping_is_refunded_per_the_terms_with_the_last_unit(refund_shipping, reason, refunded):
    terms = a_rule(refund_original_shipping=refund_shipping)
    amount, parts = amount_for(an_rma(*every_line(reason), payer="seller", terms=terms))
    assert ("original shipping" in parts_of(parts)) is refunded
    assert amount == Decimal(900000) + (Decimal(20000) if refunded else 0)


def test_original_shipping_waits_for_the_return_that_brings_back_the_last_delivered_unit():
    always = a_rule(refund_original_shipping=ShippingRefund.always)
    partial = an_rma(rma_line("1", 2), rma_line("2", 1), rma_line("3", 1), rma_line("4", 3), terms=always)
    assert "original shipping" not in parts_of(amount_for(partial)[1])

    back = [rma_line("1", 2, received=2), rma_line("2", 1, received=1), rma_line("3", 1, received=1),
            rma_line("4", 3, received=3)]  # fmt: skip
    earlier = an_rma(*back, n=1, terms=always)
    last = an_rma(rma_line("4", 1), n=2, terms=always)
    amount, parts = amount_for(last, order=an_order(returns=[earlier, last]))
    assert parts_of(parts) == {"goods": Decimal(45000), "original shipping": Decimal(20000)}
    assert amount == Decimal(65000)
    # ... once: not when another refund already carried it.
    amount, parts = amount_for(last, order=an_order(returns=[earlier, last]), shipping=True)
    assert parts_of(parts) == {"goods": Decimal(45000)} and amount == Decimal(45000)


def test_the_last_unit_is_counted_at_what_was_received():
    always = a_rule(refund_original_shipping=ShippingRefund.always)
    short = [rma_line(i, q, received=q) for i, q in ALL_DELIVERED.items() if i != "4"] + [rma_line("4", 4, received=3)]
    rma = an_rma(*short, terms=always)
    units = {line.line_id: line.received for line in rma.lines}
    _, parts = refund_amount(an_order(returns=[rma]), rma, units, Decimal(0), False)
    assert "original shipping" not in parts_of(parts)  # one coffee never came back


def test_a_refund_is_never_negative_and_its_parts_add_up_to_it():
    amount, parts = amount_for(an_rma(rma_line("1", 1), fee=100000))
    assert amount == 0
    assert parts_of(parts) == {
        "goods": Decimal(90000),
        "return shipping": Decimal(-100000),
        "not below zero": Decimal(10000),
    }
    assert sum(part.amount for part in parts) == amount


@pytest.mark.parametrize(("elsewhere", "amount"), [(905000, 15000), (950000, 0)])
def test_a_refund_is_never_more_than_what_is_left_of_the_orders_total(elsewhere, amount):
    all_back = an_rma(*every_line("wrong_item"), payer="seller")  # 920 000 with the original shipping
    got, parts = amount_for(all_back, elsewhere=Decimal(elsewhere))
    assert got == Decimal(amount) and sum(part.amount for part in parts) == got
    assert parts_of(parts)["limited to what is left of the order's total"] == Decimal(amount - 920000)


def test_a_refund_within_bounds_has_no_limit_part():
    _, parts = amount_for(an_rma(*every_line("wrong_item"), payer="seller"), elsewhere=Decimal(0))
    assert [part.label for part in parts] == ["goods", "original shipping"]


# ================================================================ 7. returned_lines


def test_returned_lines_count_what_arrived_or_else_what_was_announced():
    returns = [
        an_rma(rma_line("1", 2, received=1), n=1),
        an_rma(rma_line("1", 1), rma_line("2", 1), n=2),
        an_rma(rma_line("4", 3, received=0), n=3),
    ]
    assert returned_lines(returns) == {"1": 2, "2": 1, "4": 0}


def test_returned_lines_leave_out_cancelled_rmas_and_transfer_legs():
    returns = [
        an_rma(rma_line("1", 2, received=2), n=1),
        an_rma(rma_line("1", 2), n=2, forwarded_from=rma_id(1)),
        an_rma(rma_line("2", 1), n=3, status=RmaStatus.cancelled),
    ]
    assert returned_lines(returns) == {"1": 2}


def test_units_refunded_on_request_count_as_announced_even_when_fewer_arrived():
    returns = [an_rma(rma_line("1", 2, received=0), timing="on_request"), an_rma(rma_line("2", 1, received=0), n=2)]
    assert returned_lines(returns) == {"1": 2, "2": 0}


# ================================================================ 8. receive


def test_an_unknown_rma_is_not_found():
    world = World()
    world.create(ask("1"))
    for unknown in [rma_id(2), "RMA-OMS-9999999-1", "RMA-nonsense", "ord_RETURNS1"]:
        with pytest.raises(NotFound):
            world.service.receive(unknown, a_receipt({"1": 1}), by="node:DC-JKT")
    assert rma_order_number(rma_id(12)) == NUMBER and rma_order_number("RMA-x") is None


def test_a_receipt_is_recorded_once():
    world = World()
    world.create(ask("1", 2))
    world.receive(1, {"1": 2})
    before = world.order
    with pytest.raises(Conflict) as twice:
        world.receive(1, {"1": 2})
    assert twice.value.status_code == 409 and twice.value.details == {"rule": "received_once"}
    assert world.unchanged_since(before)


@pytest.mark.parametrize(
    ("counts", "rule"), [({"2": 1}, "not_on_rma"), ({"1": 3}, "more_than_announced")], ids=["other line", "too many"]
)
def test_a_receipt_that_does_not_fit_the_rma_is_refused(counts, rule):
    world = World()
    world.create(ask("1", 2))
    before = world.order
    with pytest.raises(ReturnStepRefused) as refused:
        world.receive(1, counts)
    assert refused.value.status_code == 422 and refused.value.details == {"rule": rule}
    assert world.unchanged_since(before)


def test_fewer_than_announced_is_accepted_and_recorded_and_the_rest_may_come_back_later():
    world = World()
    world.create(ask("1", 2), ask("2"))
    world.clock.tick(days=2)
    box = [UnexpectedItem(description="a charger cable", quantity=1)]
    rma = world.service.receive(rma_id(1), a_receipt({"1": 1}, unexpected=box, note="box crushed"), by="node:DC-JKT")
    assert [(line.line_id, line.received) for line in rma.lines] == [("1", 1), ("2", 0)]
    assert rma.status is RmaStatus.received and rma.received_units == 1
    assert (rma.received_at, rma.received_by, rma.receipt_note) == (world.clock.now, "node:DC-JKT", "box crushed")
    assert rma.unexpected == box and world.rma(1) == rma
    assert returned_lines(world.order.returns) == {"1": 1, "2": 0}
    assert world.create(ask("1"), ask("2")).outcome == "created"  # what never arrived may be returned again


# ================================================================ 9. inspect and dispose


def test_inspecting_before_the_receipt_is_a_conflict():
    world = World()
    world.create(ask("1"))
    with pytest.raises(Conflict) as early:
        world.inspect(1, ("1", "resellable", 1))
    assert early.value.details == {"rule": "not_received"} and world.inventory.calls == []


def test_inspecting_more_than_received_is_refused_across_inspections():
    world = World()
    world.create(ask("1", 2), ask("2"))
    world.receive(1, {"1": 1, "2": 1})
    with pytest.raises(ReturnStepRefused) as refused:
        world.inspect(1, ("1", "resellable", 1), ("1", "damaged", 1))
    assert refused.value.details == {"rule": "not_received"}
    with pytest.raises(ReturnStepRefused) as other:
        world.inspect(1, ("4", "resellable", 1))
    assert other.value.details == {"rule": "not_on_rma"}

    world.inspect(1, ("1", "resellable", 1))
    assert world.rma(1).status is RmaStatus.received  # line 2 still waits
    with pytest.raises(ReturnStepRefused):
        world.inspect(1, ("1", "damaged", 1))
    assert len(world.inventory.calls) == 1


def test_an_inspected_rma_takes_no_more_inspections():
    world = received_at_jkt(ask("1", 2))
    world.inspect(1, ("1", "resellable", 2))
    with pytest.raises(Conflict) as done:
        world.inspect(1, ("1", "damaged", 1))
    assert done.value.details == {"rule": "inspected"}


def test_resellable_units_at_a_restocking_node_go_back_to_its_stock_once():
    world = received_at_jkt(ask("1", 2))
    rma = world.inspect(1, ("1", "resellable", 2))
    assert world.inventory.calls == [("SHIRT", "DC-JKT", 2, movement(1, 1, 0))]
    (entry,) = rma.lines[0].inspections
    assert (entry.condition, entry.disposition, entry.quantity, entry.movement_id) == (
        "resellable",
        Disposition.restocked,
        2,
        movement(1, 1, 0),
    )
    assert entry.by == "node:DC-JKT" and rma.status is RmaStatus.inspected


def test_the_movement_names_the_lines_position_on_the_rma_and_the_inspections_it_had_before():
    world = received_at_jkt(ask("1", 2), ask("2"), ask("4", 3))
    rma = world.inspect(1, ("4", "resellable", 1), ("4", "damaged", 1), ("4", "resellable", 1), ("2", "resellable", 1))
    assert [entry.movement_id for entry in rma.lines[2].inspections] == [movement(1, 3, 0), None, movement(1, 3, 2)]
    assert rma.lines[1].inspections[0].movement_id == movement(1, 2, 0)
    assert world.inventory.applied == {
        movement(1, 3, 0): ("COFFEE", "DC-JKT", 1),
        movement(1, 3, 2): ("COFFEE", "DC-JKT", 1),
        movement(1, 2, 0): ("CAP", "DC-JKT", 1),
    }


def test_two_inspections_of_one_line_restock_under_different_movements():
    world = received_at_jkt(ask("1", 2))
    world.inspect(1, ("1", "resellable", 1))
    world.inspect(1, ("1", "resellable", 1))
    assert list(world.inventory.applied) == [movement(1, 1, 0), movement(1, 1, 1)]
    assert world.inventory.on_hand("SHIRT", "DC-JKT") == 2


def test_a_retry_after_a_lost_write_restocks_once_after_the_write():
    world = received_at_jkt(ask("1", 2))
    world.orders.conflicts = 1
    rma = world.inspect(1, ("1", "resellable", 2))
    assert world.inventory.calls == [("SHIRT", "DC-JKT", 2, movement(1, 1, 0))]
    assert rma.lines[0].inspections[0].movement_id == movement(1, 1, 0) and world.order.changed_by == "node:DC-JKT"


def test_an_inspection_that_loses_the_race_to_another_takes_the_next_movement_and_stock_matches_the_record():
    world = received_at_jkt(ask("4", 3))
    # Another inspector's write of one coffee lands between this inspection's read and its write.
    world.orders.meanwhile.append(lambda: world.inspect(1, ("4", "resellable", 1)))
    rma = world.inspect(1, ("4", "resellable", 2))
    entries = rma.lines[0].inspections
    assert [(e.quantity, e.movement_id) for e in entries] == [(1, movement(1, 1, 0)), (2, movement(1, 1, 1))]
    assert world.inventory.applied == {
        movement(1, 1, 0): ("COFFEE", "DC-JKT", 1),
        movement(1, 1, 1): ("COFFEE", "DC-JKT", 2),
    }
    recorded = sum(e.quantity for e in entries if e.disposition is Disposition.restocked)
    assert world.inventory.on_hand("COFFEE", "DC-JKT") == recorded == 3


def test_a_failed_restock_still_records_the_inspection_and_is_applied_again_later(caplog):
    world = received_at_jkt(ask("1", 2))
    world.inventory.down = True
    rma = world.inspect(1, ("1", "resellable", 2))
    assert rma.status is RmaStatus.inspected and rma.refund.status is RefundStatus.requested
    assert world.rma(1) == rma and world.inventory.applied == {}
    assert "left to the returns worker" in caplog.text

    world.inventory.down = False  # the worker, from ReturnUnitsInspected
    assert world.service.restock_inspected(rma) == 2
    assert world.service.restock_inspected(rma) == 0  # again: each movement once, whoever asks
    assert world.inventory.on_hand("SHIRT", "DC-JKT") == 2
    assert [call[3] for call in world.inventory.calls] == [movement(1, 1, 0)] * 2


def test_restock_inspected_applies_every_restocked_entry_and_nothing_else():
    world = received_at_jkt(ask("1", 2), ask("2"))
    world.inspect(1, ("1", "resellable", 1), ("1", "damaged", 1))
    world.inspect(1, ("2", "resellable", 1))
    world.inventory = FakeRestock()
    world.service.effects.inventory = world.inventory  # a worker with nothing applied yet
    assert world.service.restock_inspected(world.rma(1)) == 2
    assert world.inventory.applied == {
        movement(1, 1, 0): ("SHIRT", "DC-JKT", 1),
        movement(1, 2, 0): ("CAP", "DC-JKT", 1),
    }


def test_the_same_inspection_id_again_changes_nothing():
    world = received_at_jkt(ask("1", 2), ask("2"))
    first = world.inspect(1, ("1", "resellable", 2), inspection_id="insp-7")
    assert first.lines[0].inspections[0].inspection_id == "insp-7"
    writes, calls = world.orders.writes, list(world.inventory.calls)
    again = world.inspect(1, ("1", "resellable", 2), inspection_id="insp-7")
    assert again == first and world.orders.writes == writes and world.inventory.calls == calls

    done = world.inspect(1, ("2", "damaged", 1), inspection_id="insp-8")
    assert done.status is RmaStatus.inspected
    assert world.inspect(1, ("2", "damaged", 1), inspection_id="insp-8") == done  # a retry, not "inspected"
    assert world.inspect(1, ("1", "resellable", 2), inspection_id="insp-7") == done


def test_a_resellable_unit_of_a_sku_the_catalog_does_not_know_is_refused_and_nothing_is_written():
    world = received_at_jkt(ask("1", 2))
    del world.facts["SHIRT"]
    before = world.order
    with pytest.raises(ReturnStepRefused) as refused:
        world.inspect(1, ("1", "refurbish", 1), ("1", "resellable", 1))
    assert refused.value.status_code == 422 and refused.value.details == {"rule": "unknown_sku"}
    assert world.unchanged_since(before) and world.inventory.calls == []
    assert world.inspect(1, ("1", "refurbish", 2)).status is RmaStatus.inspected  # kept out of stock: fine


def test_damaged_and_refurbish_units_never_reach_stock():
    world = received_at_jkt(ask("1", 2), ask("2"))
    rma = world.inspect(1, ("1", "damaged", 1), ("1", "refurbish", 1), ("2", "damaged", 1))
    assert world.inventory.calls == []
    assert [(i.condition, i.disposition) for i in rma.lines[0].inspections] == [
        ("damaged", Disposition.quarantined),
        ("refurbish", Disposition.refurbish),
    ]
    assert all(i.movement_id is None for line in rma.lines for i in line.inspections)


def test_defective_units_become_a_vendor_claim_when_the_sku_has_a_supplier():
    world = World()
    world.create(ask("3", reason="defective"), ask("1", reason="defective"), drop_off="ST-BDG")
    world.receive(1, {"3": 1, "1": 1})
    rma = world.inspect(1, ("3", "defective", 1), ("1", "defective", 1))
    blender, shirt = (line.inspections[0] for line in rma.lines)
    assert (blender.disposition, blender.supplier) == (Disposition.vendor_claim, "ACME")
    assert (shirt.disposition, shirt.supplier) == (Disposition.quarantined, None)
    assert world.inventory.calls == []


def test_a_return_to_the_supplier_is_a_vendor_claim_on_arrival_and_refunded_then():
    world = World()
    world.create(ask("3", reason="defective"))
    rma = world.service.receive(rma_id(1), a_receipt({"3": 1}), by="ops:bob")
    (entry,) = rma.lines[0].inspections
    assert (entry.condition, entry.disposition, entry.supplier) == ("defective", Disposition.vendor_claim, "ACME")
    assert rma.status is RmaStatus.inspected
    assert (rma.refund.status, rma.refund.amount) == (RefundStatus.requested, Decimal(450000))
    assert world.inventory.calls == []


# ================================================================ 10. forwarding to a return center


def forwarded_world() -> World:
    world = World()
    world.create(ask("1", 2), drop_off="ST-MAL")
    world.service.receive(rma_id(1), a_receipt({"1": 2}), by="node:ST-MAL", nodes_acted_for={"ST-MAL"})
    world.service.inspect(
        rma_id(1), an_inspection(("1", "resellable", 2)), by="node:ST-MAL", nodes_acted_for={"ST-MAL"}
    )
    return world


def test_resellable_units_at_a_store_that_does_not_sell_returns_are_forwarded_to_a_return_center():
    world = forwarded_world()
    store, leg = world.rma(1), world.rma(2)
    assert world.inventory.calls == []
    (entry,) = store.lines[0].inspections
    assert (entry.disposition, entry.forwarded_to, entry.movement_id) == (Disposition.forwarded, rma_id(2), None)
    assert leg.forwarded_from == rma_id(1) and leg.status is RmaStatus.authorized
    assert leg.destination.node_id == "DC-JKT" and leg.method is ReturnMethod.ship_back
    assert leg.return_shipping_paid_by is Payer.seller and leg.return_shipping_fee == 0 and leg.request_id is None
    assert leg.terms == store.terms
    assert (leg.refund.status, leg.refund.amount) == (RefundStatus.not_due, 0)
    assert [(line.line_id, line.quantity, line.received, line.inspections) for line in leg.lines] == [
        ("1", 2, None, [])
    ]
    # The buyer's refund is the store RMA's, for the units the buyer brought.
    assert (store.status, store.refund.status, store.refund.amount) == (
        RmaStatus.inspected,
        RefundStatus.requested,
        Decimal(180000),
    )


def test_the_forward_leg_is_received_and_restocked_at_the_center():
    world = forwarded_world()
    center = {"nodes_acted_for": {"DC-JKT"}}
    with pytest.raises(Forbidden):
        world.service.receive(rma_id(2), a_receipt({"1": 2}), by="node:ST-MAL", nodes_acted_for={"ST-MAL"})
    world.receive(2, {"1": 2}, **center)
    leg = world.inspect(2, ("1", "resellable", 2), **center)
    assert world.inventory.calls == [("SHIRT", "DC-JKT", 2, movement(2, 1, 0))]
    assert leg.status is RmaStatus.closed and leg.refund.status is RefundStatus.not_due
    assert world.rma(1).refund.status is RefundStatus.requested  # untouched by the transfer


def test_transfer_legs_are_not_the_buyers_returns():
    world = forwarded_world()
    assert returned_lines(world.order.returns) == {"1": 2}
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("1"))
    assert "2 delivered, 2 already returned" in refused.value.details[0]["message"]
    assert world.create(ask("2")).rmas[0].rma_id == rma_id(3)


def test_forwarding_without_any_return_center_is_a_conflict_and_restocks_nothing():
    world = World()
    world.create(ask("1", 2), drop_off="ST-MAL")
    world.receive(1, {"1": 2})
    world.nodes = {k: v for k, v in NODES.items() if not v.return_center}
    before = world.order
    with pytest.raises(Conflict) as conflict:
        world.inspect(1, ("1", "resellable", 2))
    assert conflict.value.details == {"rule": "no_return_center"} and world.unchanged_since(before)


def test_two_resellable_entries_of_one_line_forward_one_line_with_both_units():
    world = World()
    world.create(ask("1", 2), drop_off="ST-MAL")
    world.receive(1, {"1": 2})
    units = [
        InspectedUnits(line_id="1", condition="resellable", quantity=1, note="sealed"),
        InspectedUnits(line_id="1", condition="resellable", quantity=1, note="tags on, box opened"),
    ]
    world.service.inspect(rma_id(1), ReturnInspection(units=units), by="node:ST-MAL")
    assert [(line.line_id, line.quantity) for line in world.rma(2).lines] == [("1", 2)]
    world.receive(2, {"1": 2})
    assert world.inspect(2, ("1", "resellable", 2)).status is RmaStatus.closed
    assert world.inventory.on_hand("SHIRT", "DC-JKT") == 2


# ================================================================ 11. refund timing


def test_on_inspection_the_refund_is_requested_once_every_received_unit_is_inspected():
    world = received_at_jkt(ask("1", 2), ask("2"))
    assert world.rma(1).refund.status is RefundStatus.pending
    world.inspect(1, ("1", "resellable", 2))
    assert world.rma(1).refund.status is RefundStatus.pending and world.rma(1).status is RmaStatus.received
    world.clock.tick(hours=1)
    rma = world.inspect(1, ("2", "refurbish", 1))
    refund = rma.refund
    assert rma.status is RmaStatus.inspected
    assert (refund.status, refund.amount, refund.attempt, refund.requested_at) == (
        RefundStatus.requested,
        Decimal(270000),
        1,
        world.clock.now,
    )
    assert parts_of(refund.parts) == {"goods": Decimal(270000)} and refund.method is RefundMethod.gateway


def test_on_receipt_the_refund_is_requested_at_the_receipt_for_what_arrived():
    world = World(policy=a_policy(a_rule(refund_timing=RefundTiming.on_receipt)))
    world.create(ask("1", 2))
    rma = world.receive(1, {"1": 1})
    assert (rma.status, rma.refund.status, rma.refund.amount, rma.refund.attempt) == (
        RmaStatus.received,
        RefundStatus.requested,
        Decimal(90000),
        1,
    )
    assert world.inspect(1, ("1", "damaged", 1)).refund.amount == Decimal(90000)  # already asked: unchanged


def test_on_request_the_refund_is_requested_when_the_return_is_accepted():
    world = World(policy=a_policy(a_rule(refund_timing=RefundTiming.on_request)))
    rma = world.create(ask("1", 2), ask("2")).rmas[0]
    assert (rma.status, rma.refund.status, rma.refund.amount, rma.refund.attempt) == (
        RmaStatus.authorized,
        RefundStatus.requested,
        Decimal(270000),
        1,
    )
    assert world.rma(1) == rma


def test_each_rule_of_one_request_refunds_at_its_own_moment():
    world = World(policy=SPLIT_BY_RULE)
    world.create(ask("1", 2), ask("3"))
    apparel = world.receive(1, {"1": 2})
    assert (apparel.refund.status, apparel.refund.amount) == (RefundStatus.requested, Decimal(165000))  # less the fee
    standard = world.receive(2, {"3": 1})
    assert standard.refund.status is RefundStatus.pending
    standard = world.inspect(2, ("3", "resellable", 1))
    assert (standard.refund.status, parts_of(standard.refund.parts)) == (
        RefundStatus.requested,
        {"goods": Decimal(450000)},
    )


@pytest.mark.parametrize(
    ("reason", "refund_damaged", "amount"),
    [
        ("changed_mind", False, 90000),  # the buyer's damage is not refunded
        ("changed_mind", True, 180000),
        ("damaged_in_transit", False, 180000),  # the seller's (carrier's) fault: refunded
    ],
)
def test_damaged_units_are_refunded_only_on_the_sellers_fault_or_when_the_rule_says_so(reason, refund_damaged, amount):
    world = received_at_jkt(
        ask("1", 2, reason), world=World(policy=a_policy(a_rule(refund_damaged_by_buyer=refund_damaged)))
    )
    rma = world.inspect(1, ("1", "damaged", 1), ("1", "resellable", 1))
    assert rma.refund.amount == Decimal(amount)


def test_nothing_arriving_closes_the_rma_with_nothing_owed():
    world = World()
    world.create(ask("1", 2))
    rma = world.receive(1, {"1": 0})
    assert (rma.status, rma.refund.status, rma.refund.amount) == (RmaStatus.closed, RefundStatus.not_due, 0)


def test_units_refunded_on_request_are_not_refunded_again_when_they_never_arrived():
    world = World(policy=a_policy(a_rule(refund_timing=RefundTiming.on_request)))
    assert world.create(ask("1", 2)).rmas[0].refund.amount == Decimal(180000)
    world.receive(1, {"1": 0})  # the buyer kept them; the refund was already asked for
    assert returned_lines(world.order.returns) == {"1": 2}
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("1", 2))
    assert refused_rules(refused) == [("1", "quantity")]


# ================================================================ 12. original shipping, through the service


ALWAYS_SHIPPING = a_policy(a_rule(refund_original_shipping=ShippingRefund.always))


def test_original_shipping_comes_with_the_return_that_brings_everything_back_a_damaged_unit_included():
    world = World(policy=ALWAYS_SHIPPING)
    world.create(*(ask(line_id, q) for line_id, q in ALL_DELIVERED.items()))
    world.receive(1, ALL_DELIVERED)
    rma = world.inspect(
        1,
        ("1", "damaged", 1),
        ("1", "resellable", 1),
        ("2", "resellable", 1),
        ("3", "resellable", 1),
        ("4", "resellable", 4),
    )
    # The damaged shirt counts as back (the buyer's damage: not refunded itself), so the shipping comes now.
    assert parts_of(rma.refund.parts) == {"goods": Decimal(810000), "original shipping": Decimal(20000)}


def test_original_shipping_waits_for_the_unit_that_did_not_arrive():
    world = World(policy=ALWAYS_SHIPPING)
    world.create(*(ask(line_id, q) for line_id, q in ALL_DELIVERED.items()))
    world.receive(1, ALL_DELIVERED | {"4": 3})
    first = world.inspect(
        1, ("1", "resellable", 2), ("2", "resellable", 1), ("3", "resellable", 1), ("4", "resellable", 3)
    )
    assert "original shipping" not in parts_of(first.refund.parts)

    world.create(ask("4"))  # the last coffee, on a return of its own
    world.receive(2, {"4": 1})
    last = world.inspect(2, ("4", "resellable", 1))
    assert parts_of(last.refund.parts) == {"goods": Decimal(45000), "original shipping": Decimal(20000)}


def test_original_shipping_is_not_refunded_while_another_return_has_not_arrived():
    world = World(policy=ALWAYS_SHIPPING)
    world.create(ask("1", 2))  # RMA 1: on its way, not received
    world.create(ask("2"), ask("3"), ask("4", 4))  # RMA 2: everything else
    world.receive(2, {"2": 1, "3": 1, "4": 4})
    rma = world.inspect(2, ("2", "resellable", 1), ("3", "resellable", 1), ("4", "resellable", 4))
    # The shirts are not back: were they never to come, the buyer would keep them and the shipping refund.
    assert "original shipping" not in parts_of(rma.refund.parts)
    world.receive(1, {"1": 2})
    shirts = world.inspect(1, ("1", "resellable", 2))
    assert parts_of(shirts.refund.parts) == {"goods": Decimal(180000), "original shipping": Decimal(20000)}


# ================================================================ 13. settlement


@pytest.mark.parametrize(
    ("channel", "payment", "method"),
    [
        ("web", PAID_ONLINE, RefundMethod.gateway),
        ("social", PAID_ONLINE, RefundMethod.gateway),
        ("callcenter", PAID_ONLINE, RefundMethod.gateway),
        ("web", PAID_ONLINE | {"cod": True}, RefundMethod.manual),  # cash: a person pays it back
        ("web", PAID_UNTRACED, RefundMethod.manual),  # nothing to point the provider at
        ("pos", PAID_ONLINE, RefundMethod.manual),
        ("shopify", PAID_ONLINE, RefundMethod.manual),
        ("woocommerce", PAID_ONLINE, RefundMethod.manual),
        ("shopee", PAID_ONLINE, RefundMethod.channel),
        ("lazada", PAID_UNTRACED | {"cod": True}, RefundMethod.channel),
    ],
)
def test_who_refunds_follows_the_channel_and_payment(channel, payment, method):
    assert refund_method(an_order(channel=channel, payment=payment)) is method


def refund_requested(order: Order | None = None) -> World:
    world = received_at_jkt(ask("1", 2), world=World(order))
    world.inspect(1, ("1", "resellable", 2))
    return world


def test_a_gateway_refund_is_settled_by_the_providers_answer_only():
    world = refund_requested()
    before = world.order
    with pytest.raises(Conflict) as by_hand:
        world.report(1, completed("cash"))
    assert by_hand.value.details == {"rule": "provider_refund"} and world.unchanged_since(before)

    world.clock.tick(minutes=5)
    rma = world.report(1, completed("re_123"), attempt=1, by="payments")
    assert rma.status is RmaStatus.closed
    assert (rma.refund.status, rma.refund.reference, rma.refund.settled_at) == (
        RefundStatus.completed,
        "re_123",
        world.clock.now,
    )
    writes = world.orders.writes
    assert world.report(1, completed("re_123"), attempt=1, by="payments") == rma  # a repeat
    assert world.orders.writes == writes


def test_a_failed_gateway_refund_is_retried_as_another_attempt():
    world = refund_requested()
    was = world.report(1, failed("card expired"), attempt=1, by="payments")
    assert (was.refund.status, was.refund.failure, was.refund.settled_at, was.status) == (
        RefundStatus.failed,
        "card expired",
        world.clock.now,
        RmaStatus.inspected,
    )
    world.clock.tick(hours=2)
    retried = world.service.retry_refund(rma_id(1), by="ops:bob")
    assert (retried.refund.status, retried.refund.attempt, retried.refund.failure, retried.refund.requested_at) == (
        RefundStatus.requested,
        2,
        None,
        world.clock.now,
    )
    assert retried.refund.settled_at is None and retried.refund.amount == Decimal(180000)
    assert world.report(1, completed(), attempt=2, by="payments").status is RmaStatus.closed


def test_an_older_attempts_failure_is_ignored():
    world = refund_requested()
    world.report(1, failed(), attempt=1, by="payments")
    world.service.retry_refund(rma_id(1), by="ops:bob")
    before, writes = world.order, world.orders.writes
    late = world.report(1, failed("declined again"), attempt=1, by="payments")
    assert (late.refund.status, late.refund.attempt) == (RefundStatus.requested, 2)
    assert world.unchanged_since(before) and world.orders.writes == writes


def test_an_older_attempt_that_was_paid_is_recorded_as_completed():
    world = refund_requested()
    world.report(1, failed("timeout"), attempt=1, by="payments")
    world.service.retry_refund(rma_id(1), by="ops:bob")
    paid = world.report(1, completed("re_1"), attempt=1, by="payments")  # the money went out after all
    assert (paid.refund.status, paid.refund.reference, paid.status) == (
        RefundStatus.completed,
        "re_1",
        RmaStatus.closed,
    )


@pytest.mark.parametrize("answer", [failed(), completed("re_2")], ids=["failed", "completed again"])
def test_an_answer_after_the_refund_was_settled_is_ignored(answer):
    world = refund_requested()
    done = world.report(1, completed("re_1"), attempt=1, by="payments")
    writes = world.orders.writes
    for attempt in (1, 2):
        assert world.report(1, answer, attempt=attempt, by="payments") == done
    assert world.orders.writes == writes


def test_a_manual_refund_is_reported_by_a_person_and_a_failure_is_retried():
    world = refund_requested(an_order(payment=PAID_UNTRACED))
    assert world.rma(1).refund.method is RefundMethod.manual
    was = world.report(1, failed("account closed"))
    assert (was.refund.status, was.refund.failure) == (RefundStatus.failed, "account closed")
    world.clock.tick(hours=1)
    retried = world.service.retry_refund(rma_id(1), by="ops:bob")
    assert (retried.refund.status, retried.refund.attempt, retried.refund.settled_at) == (
        RefundStatus.requested,
        2,
        None,
    )
    done = world.report(1, completed("transfer 8812"))
    assert (done.refund.status, done.refund.reference, done.refund.failure, done.status) == (
        RefundStatus.completed,
        "transfer 8812",
        None,
        RmaStatus.closed,
    )


def test_a_failed_manual_refund_settled_by_hand_is_completed():
    world = refund_requested(an_order(payment=PAID_ONLINE | {"cod": True}))
    world.report(1, failed())
    rma = world.report(1, completed("cash"))
    assert (rma.refund.status, rma.refund.failure, rma.status) == (RefundStatus.completed, None, RmaStatus.closed)


def test_a_settled_manual_refund_cannot_be_reported_failed():
    world = refund_requested(an_order(payment=PAID_UNTRACED))
    world.report(1, completed())
    with pytest.raises(Conflict) as conflict:
        world.report(1, failed())
    assert conflict.value.details == {"rule": "refund_not_requested"}


def test_the_marketplace_refund_is_reported_back_by_a_person():
    world = World(a_marketplace_order())
    world.create(ask("1", 2))
    world.receive(1, {"1": 2})
    world.inspect(1, ("1", "resellable", 2))
    rma = world.report(1, completed(), by="channel:shopee")
    assert (rma.refund.method, rma.refund.status, rma.status) == (
        RefundMethod.channel,
        RefundStatus.completed,
        RmaStatus.closed,
    )


def test_a_refund_settled_before_the_goods_are_back_closes_the_rma_once_inspected():
    world = World(policy=a_policy(a_rule(refund_timing=RefundTiming.on_request)))
    world.create(ask("1", 2))
    paid = world.report(1, completed(), attempt=1, by="payments")
    assert (paid.status, paid.refund.status) == (RmaStatus.authorized, RefundStatus.completed)
    world.receive(1, {"1": 2})
    assert world.inspect(1, ("1", "resellable", 2)).status is RmaStatus.closed


def test_a_refund_not_yet_requested_cannot_be_settled_or_retried():
    world = received_at_jkt(ask("1", 2), world=World(an_order(payment=PAID_UNTRACED)))
    with pytest.raises(Conflict) as settle:
        world.report(1, completed())
    assert settle.value.details == {"rule": "refund_not_requested"}
    with pytest.raises(Conflict) as retry:
        world.service.retry_refund(rma_id(1), by="ops:bob")
    assert retry.value.details == {"rule": "refund_not_failed"}
    # The provider is never asked before the refund is: an answer for attempt 0 changes nothing.
    assert world.report(1, completed(), attempt=0, by="payments").refund.status is RefundStatus.pending


def test_original_shipping_on_a_failed_refund_is_not_refunded_again_by_another_return():
    world = World(an_order(payment=PAID_UNTRACED), policy=ALWAYS_SHIPPING)
    world.create(ask("1", 2))
    world.create(ask("2"), ask("3"), ask("4", 4))
    world.receive(1, {"1": 2})
    world.receive(2, {"2": 1, "3": 1, "4": 4})
    rest = world.inspect(2, ("2", "resellable", 1), ("3", "resellable", 1), ("4", "resellable", 4))
    assert parts_of(rest.refund.parts) == {"goods": Decimal(720000), "original shipping": Decimal(20000)}
    world.report(2, failed("account closed"))  # to be retried
    world.inspect(1, ("1", "resellable", 2))
    world.service.retry_refund(rma_id(2), by="ops:bob")
    refunds = [rma.refund for rma in world.order.returns]
    shipping = [part for refund in refunds for part in refund.parts if part.label == "original shipping"]
    assert len(shipping) == 1 and sum(refund.amount for refund in refunds) == Decimal(920000)


# ================================================================ 14. cancel


def test_an_authorized_rma_is_cancelled_and_its_units_may_be_returned_again():
    world = World()
    world.create(ask("1", 2), ask("2"))
    world.clock.tick(hours=3)
    rma = world.service.cancel(rma_id(1), reason="the buyer kept them", by="cs:alice")
    assert (rma.status, rma.cancel_reason, rma.cancelled_at, rma.updated_at) == (
        RmaStatus.cancelled,
        "the buyer kept them",
        world.clock.now,
        world.clock.now,
    )
    assert rma.refund.status is RefundStatus.not_due and world.order.changed_by == "cs:alice"
    assert returned_lines(world.order.returns) == {}
    assert world.create(ask("1", 2), ask("2")).rmas[0].rma_id == rma_id(2)

    writes = world.orders.writes
    assert world.service.cancel(rma_id(1), reason="again", by="cs:alice") == rma  # a repeat
    assert world.orders.writes == writes


def test_a_cancelled_rma_cannot_be_received_or_inspected():
    world = World()
    world.create(ask("1", 2))
    world.service.cancel(rma_id(1), reason="wrong order", by="cs:alice")
    with pytest.raises(Conflict) as receipt:
        world.receive(1, {"1": 2})
    assert receipt.value.details == {"rule": "cancelled"}
    with pytest.raises(Conflict) as inspection:
        world.inspect(1, ("1", "resellable", 1))
    assert inspection.value.details == {"rule": "not_received"}


def test_a_received_rma_cannot_be_cancelled():
    world = World()
    world.create(ask("1", 2))
    world.receive(1, {"1": 0})
    before = world.order
    with pytest.raises(Conflict) as conflict:
        world.service.cancel(rma_id(1), reason="late", by="cs:alice")
    assert conflict.value.details == {"rule": "received"} and world.unchanged_since(before)


@pytest.mark.parametrize("resolution", ["refund", "exchange"])
def test_an_rma_refunded_or_exchanged_on_request_cannot_be_cancelled(resolution):
    world = World(policy=a_policy(a_rule(refund_timing=RefundTiming.on_request)))
    world.create(ask("1", 2, "wrong_size"), resolution=resolution)
    before = world.order
    with pytest.raises(Conflict) as conflict:
        world.service.cancel(rma_id(1), reason="changed mind", by="cs:alice")
    assert conflict.value.details == {"rule": "settled_on_request"} and world.unchanged_since(before)


def test_an_exchange_not_yet_due_may_be_cancelled():
    world = World()
    world.create(ask("1", 1, "wrong_size", exchange_sku="SHIRT-L"), resolution="exchange")
    assert world.service.cancel(rma_id(1), reason="found the right size", by="cs:alice").status is RmaStatus.cancelled
    assert world.captured.drafts == []


# ================================================================ 15. exchange


def exchange_of_two_shirts_and_a_cap(world: World | None = None) -> World:
    world = world or World()
    world.create(ask("1", 2, "wrong_size", exchange_sku="SHIRT-L"), ask("2", 1, "wrong_size"), resolution="exchange")
    world.receive(1, {"1": 2, "2": 1})
    return world


def test_an_exchange_is_fixed_on_the_rma_at_the_refund_moment_and_captured_after_the_write():
    world = exchange_of_two_shirts_and_a_cap()
    assert world.captured.drafts == [] and world.rma(1).exchange_order_id is None
    rma = world.inspect(1, ("1", "resellable", 2), ("2", "damaged", 1))  # the damaged cap is not replaced

    assert rma.exchange_lines == [ExchangeLine(line_id="1", sku="SHIRT-L", quantity=2, unit_price=Decimal(90000))]
    assert rma.exchange_order_id == order_id_for("web", rma_id(1))
    assert (rma.refund.status, rma.refund.amount, rma.status) == (RefundStatus.not_due, 0, RmaStatus.closed)
    (draft,) = world.captured.drafts
    assert (draft.channel, draft.channel_order_id, draft.currency, draft.tags) == (
        Channel.web,
        rma_id(1),
        "IDR",
        ["exchange"],
    )
    assert [(line.line_id, line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        ("1", "SHIRT-L", 2, Decimal(90000))
    ]
    assert (draft.payment.status, draft.payment.method) == ("paid", "exchange")
    assert draft.totals.grand_total == Decimal(180000) and draft.shipping_address == world.order.shipping_address


def test_an_exchange_is_captured_once_even_when_the_write_is_retried():
    world = exchange_of_two_shirts_and_a_cap()
    world.orders.conflicts = 2
    rma = world.inspect(1, ("1", "resellable", 2), ("2", "resellable", 1))
    assert len(world.captured.drafts) == 1 and world.orders.writes == 3  # create, receive, inspect
    assert [(x.sku, x.quantity) for x in rma.exchange_lines] == [("SHIRT-L", 2), ("CAP", 1)]


def test_a_capture_that_fails_is_left_to_the_worker_which_makes_the_same_order():
    world = exchange_of_two_shirts_and_a_cap()
    world.captured.down = True
    rma = world.inspect(1, ("1", "resellable", 2), ("2", "resellable", 1))
    assert rma.status is RmaStatus.closed and rma.exchange_order_id == order_id_for("web", rma_id(1))
    assert world.captured.drafts == []

    world.captured.down = False  # the worker, from ExchangeRequested
    assert world.service.create_exchange(world.order, world.rma(1)) == rma.exchange_order_id
    assert world.service.create_exchange(world.order, world.rma(1)) == rma.exchange_order_id  # same id again
    assert world.captured.drafts[0] == world.captured.drafts[1]


def test_a_failing_restock_does_not_hold_back_the_exchange():
    world = exchange_of_two_shirts_and_a_cap()
    world.inventory.down = True
    world.inspect(1, ("1", "resellable", 2), ("2", "resellable", 1))
    assert len(world.captured.drafts) == 1


def test_nothing_to_exchange_captures_nothing():
    world = exchange_of_two_shirts_and_a_cap()
    rma = world.inspect(1, ("1", "damaged", 2), ("2", "damaged", 1))
    assert (rma.exchange_lines, rma.exchange_order_id, rma.status) == ([], None, RmaStatus.closed)
    assert world.captured.drafts == [] and world.service.create_exchange(world.order, rma) is None


def test_without_capture_the_exchange_is_recorded_for_the_worker():
    world = exchange_of_two_shirts_and_a_cap(World(capture=False))
    rma = world.inspect(1, ("1", "resellable", 2), ("2", "resellable", 1))
    assert rma.exchange_order_id == order_id_for("web", rma_id(1))
    assert world.service.create_exchange(world.order, rma) is None


@pytest.mark.parametrize(
    ("order", "channel"),
    [
        (an_order(channel="pos", payment=PAID_UNTRACED), Channel.pos),
        (an_order(channel="social"), Channel.social),
        (an_order(channel="shopify"), Channel.callcenter),
        (a_marketplace_order(), Channel.callcenter),
    ],
    ids=["pos", "social", "web store", "marketplace"],
)
def test_an_exchange_on_request_is_captured_with_the_return_in_its_own_channel_or_the_callcenter(order, channel):
    world = World(order, policy=a_policy(a_rule(refund_timing=RefundTiming.on_request)))
    rma = world.create(ask("1", 1, "wrong_size"), resolution="exchange").rmas[0]
    (draft,) = world.captured.drafts
    assert draft.channel is channel and [(line.sku, line.quantity) for line in draft.lines] == [("SHIRT", 1)]
    assert rma.exchange_order_id == order_id_for(channel, rma_id(1)) and rma.refund.status is RefundStatus.not_due


def test_an_exchange_for_a_sku_not_in_the_catalog_is_refused():
    world = World()
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("1", 1, "wrong_size", exchange_sku="SHIRT-XXL"), resolution="exchange")
    assert refused_rules(refused) == [("1", "unknown_sku")] and world.order.returns == []


def test_an_exchange_for_a_sku_priced_otherwise_is_refused():
    world = World()
    with pytest.raises(ReturnRefused) as refused:
        world.create(
            ask("1", 1, "wrong_size", exchange_sku="SHIRT-SILK"), ask("2", 1, "wrong_size"), resolution="exchange"
        )
    assert refused_rules(refused) == [("1", "exchange_price")] and world.order.returns == []
    assert "return it and order the other" in refused.value.details[0]["message"]


def test_an_exchange_of_a_sku_without_a_list_price_is_only_for_the_same_sku():
    world = World()
    world.facts["SHIRT"] = SkuFacts(category="apparel")
    with pytest.raises(ReturnRefused) as refused:
        world.create(ask("1", 1, "wrong_size", exchange_sku="SHIRT-L"), resolution="exchange")
    assert refused_rules(refused) == [("1", "exchange_price")]
    assert world.create(ask("1", 1, "wrong_size"), resolution="exchange").outcome == "created"


# ================================================================ 16. node keys


def test_a_node_key_reports_only_for_its_own_nodes():
    world = World()
    world.create(ask("1", 2))  # to DC-JKT
    before = world.order
    with pytest.raises(Forbidden):
        world.receive(1, {"1": 2}, nodes_acted_for={"ST-BDG"})
    assert world.unchanged_since(before)
    world.receive(1, {"1": 2}, nodes_acted_for={"DC-JKT", "ST-BDG"})
    with pytest.raises(Forbidden):
        world.inspect(1, ("1", "resellable", 2), nodes_acted_for={"ST-BDG"})
    assert world.inventory.calls == []
    world.create(ask("3", reason="defective"))  # to the supplier: no node key reports for it
    with pytest.raises(Forbidden):
        world.receive(2, {"3": 1}, nodes_acted_for={"DC-JKT"})


# ================================================================ 17. found in review


def test_a_restock_refused_for_good_does_not_hold_up_the_others():
    w = World()
    w.create(ask("1"), ask("2"))
    w.receive(1, {"1": 1, "2": 1})
    real = w.inventory.restock

    def restock(sku, node_id, quantity, movement_id, now):
        if sku == "SHIRT":
            raise NotFound("no node")  # permanent: node removed / SKU removed / id reused
        return real(sku, node_id, quantity, movement_id, now)

    w.inventory.restock = restock
    w.inspect(1, ("1", "resellable", 1), ("2", "resellable", 1))
    assert w.service.restock_inspected(w.rma(1)) == 0  # SHIRT refused for good (logged for a person) ...
    assert w.inventory.on_hand("CAP", "DC-JKT") == 1  # ... and CAP was restocked all the same


def test_a_transfer_leg_cannot_be_cancelled():
    w = World()
    w.create(ask("1"), drop_off="ST-MAL")
    w.receive(1, {"1": 1})
    w.inspect(1, ("1", "resellable", 1))
    leg = w.rma(2)
    assert leg.forwarded_from == rma_id(1)
    with pytest.raises(Conflict):
        w.service.cancel(rma_id(2), "oops", by="cs:alice")


def test_exchanged_units_do_not_count_as_back_for_the_original_shipping():
    w = World(policy=a_policy(a_rule(refund_original_shipping="always")))
    w.create(ask("1", 2, reason="wrong_size"), resolution="exchange")
    w.receive(1, {"1": 2})
    w.inspect(1, ("1", "resellable", 2))
    assert w.rma(1).exchange_order_id
    w.create(ask("2"), ask("3"), ask("4", 4))
    w.receive(2, {"2": 1, "3": 1, "4": 4})
    w.inspect(2, ("2", "resellable", 1), ("3", "resellable", 1), ("4", "resellable", 4))
    labels = {p.label: p.amount for p in w.rma(2).refund.parts}
    # the buyer keeps two replacement shirts shipped on that order: no original shipping back
    assert "original shipping" not in labels, labels


def _fee(policy):
    w = World(policy=policy)
    accepted = w.create(ask("1", reason="defective"), ask("3", reason="changed_mind"))
    return sorted((r.destination.key, r.return_shipping_fee) for r in accepted.rmas)


def test_one_parcels_return_shipping_does_not_depend_on_how_rules_split_it():
    one_rule = _fee(a_policy(a_rule("all", return_shipping_fee=Decimal(15000), defective_to_supplier=False)))
    two_rules = _fee(
        a_policy(
            a_rule("apparel", categories=["apparel"], return_shipping_fee=Decimal(15000), defective_to_supplier=False),
            a_rule("other", return_shipping_fee=Decimal(15000), defective_to_supplier=False),
        )
    )
    assert sum(f for _, f in one_rule) == sum(f for _, f in two_rules), (one_rule, two_rules)


def test_a_declined_provider_refund_may_be_reported_paid_another_way():
    w = World()
    w.create(ask("1"))
    w.receive(1, {"1": 1})
    w.inspect(1, ("1", "resellable", 1))
    w.report(1, failed("card closed"), attempt=1, by="payments")
    assert w.rma(1).refund.status is RefundStatus.failed
    w.report(1, completed("bank transfer 123"))  # ops paid by bank transfer: 409 today, RMA never closes
    assert w.rma(1).status is RmaStatus.closed


def test_a_return_fee_is_only_taken_in_its_own_currency():
    order = an_order(
        currency="USD",
        totals={"subtotal": "101", "discount": "11", "shipping": "2", "grand_total": "92"},
        lines=[
            {"line_id": "1", "sku": "SHIRT", "quantity": 2, "unit_price": "10"},
            {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": "11", "discount": "1"},
            {"line_id": "3", "sku": "BLENDER", "quantity": 1, "unit_price": "50"},
            {"line_id": "4", "sku": "COFFEE", "quantity": 4, "unit_price": "5"},
        ],
    )
    w = World(order=order, policy=a_policy(a_rule(return_shipping_fee=Decimal(15000))))
    w.create(ask("3"))
    w.receive(1, {"3": 1})
    w.inspect(1, ("3", "resellable", 1))
    assert w.rma(1).refund.amount > 0, w.rma(1).refund.parts  # USD 45 less "15000" -> 0


def test_a_marketplace_request_leaves_the_lines_the_policy_refuses():
    from datetime import timedelta

    from oms.domain.return_policy import default_policy
    from oms.models.order import Flag
    from tests.unit.test_returns import NOW, a_marketplace_order

    order = a_marketplace_order()
    flag = Flag.model_validate(
        {"code": "return_requested", "since": NOW - timedelta(hours=1), "message": "buyer asked"}
    )
    order = order.model_copy(update={"flags": [flag]})
    w = World(order=order, policy=default_policy())
    accepted = w.service.from_channel(order.order_id)  # ReturnRefused today: COFFEE (food) is not returnable
    assert accepted is not None and accepted.rmas
