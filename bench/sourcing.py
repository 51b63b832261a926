"""Sourcing: the planner against the exact optimum and against the two
algorithms Magento MSI ships, on generated Indonesian instances; and orders
racing for one SKU through the local stack.

The instances: 8 DCs and 42 stores in the cities of oms.domain.geo (stores
jittered around their city), 2,000 SKUs with Zipf demand (popular SKUs in
every DC and many stores, the tail in one or two DCs), buyers where people
live (Java first), 1 to 10 lines (most orders 1 or 2), each order planned
against the stock the day's earlier orders left (replenished every DAY orders). Every algorithm plans each order
against the same stock and the same eligible nodes (the rules' filters), and
each plan is priced with the same stated cost.

sourcing_gap_pct                  planner cost above the MILP optimum (HiGHS), summed over orders
sourcing_saving_vs_priority_pct   planner cost below fixed node priority (Magento "source priority")
sourcing_saving_vs_nearest_pct    planner cost below nearest node with stock (Magento "distance priority")
split_rate_pct, split_rate_priority_pct   orders shipped in more than one parcel
sourcing_p99_ms                   plan() per order, in process, orders of up to 10 lines and 50 nodes
sourcing_exact_pct                orders whose search finished (proved optimal) within its limit
split_rate_split_averse_pct,      the same orders under rules that price a parcel at Rp 60,000
sourcing_saving_vs_priority_split_averse_pct   (SPLIT_AVERSE_PARCEL_COST): split rate, saving vs priority
e2e_oversold_units                50 concurrent one-unit orders against 10 units, through `make run`'s
                                  stack: units allocated beyond 10 (must be 0)
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms.domain.geo import CITIES, place
from oms.domain.planner import DEFAULT_WEIGHT_G, NeedLine, NodeOption, SourcingInput, _reason_for_node, plan
from oms.domain.sourcing_defaults import default_rules
from oms.models.inventory import Node
from oms.models.order import Channel, DeliveryMethod, ServiceLevel
from oms.models.sourcing import SourcingRules

SEED = 20261126
ORDERS = 1_500
DAY = 100  # orders between replenishments
SKUS = 2_000
MAIN_DC = "DC-BEK"
MAIN_DC_GAPS = 0.08  # share of SKUs out of stock at the national DC
DC_CITIES = ["bekasi", "surabaya", "medan", "makassar", "balikpapan", "denpasar", "semarang", "palembang"]
# Buyers per city, roughly by urban population (millions).
BUYERS = {
    "jakarta barat": 2.5, "jakarta timur": 3.0, "jakarta selatan": 2.3, "jakarta utara": 1.8, "jakarta pusat": 1.0,
    "bekasi": 2.5, "bogor": 1.1, "depok": 2.0, "tangerang": 1.9, "tangerang selatan": 1.4, "bandung": 2.5,
    "semarang": 1.7, "surakarta": 0.5, "yogyakarta": 0.4, "sleman": 1.1, "surabaya": 2.9, "sidoarjo": 2.0,
    "malang": 0.9, "denpasar": 0.7, "badung": 0.5, "medan": 2.4, "palembang": 1.7, "pekanbaru": 1.1,
    "batam": 1.2, "bandar lampung": 1.1, "padang": 0.9, "makassar": 1.4, "manado": 0.5, "balikpapan": 0.7,
    "samarinda": 0.8, "banjarmasin": 0.7, "pontianak": 0.7, "jayapura": 0.4, "ambon": 0.3, "kupang": 0.4,
    "mataram": 0.4,
}  # fmt: skip


def _nodes(rng: random.Random) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for key in DC_CITIES:
        city = CITIES[key]
        node_id = f"DC-{key[:3].upper()}"
        nodes[node_id] = Node(
            node_id=node_id, name=f"DC {city.name}", kind="dc", city=city.name, province=city.province,
            lat=Decimal(str(round(city.lat, 4))), lng=Decimal(str(round(city.lng, 4))),
            handling_cost=Decimal(2500), handling_cost_per_unit=Decimal(300), may_pickup=False,
        )  # fmt: skip
    store_cities = sorted(BUYERS, key=lambda c: -BUYERS[c])
    for index in range(42):
        key = store_cities[index % len(store_cities)]
        city = CITIES[key]
        node_id = f"ST-{index:02d}"
        nodes[node_id] = Node(
            node_id=node_id, name=f"Store {city.name} {index}", kind="store", city=city.name,
            province=city.province, lat=Decimal(str(round(city.lat + rng.uniform(-0.05, 0.05), 4))),
            lng=Decimal(str(round(city.lng + rng.uniform(-0.05, 0.05), 4))),
            handling_cost=Decimal(6000), handling_cost_per_unit=Decimal(800), may_pickup=True,
            may_same_day=True, routing_threshold=1,
        )  # fmt: skip
    return nodes


def _stock(rng: random.Random, nodes: dict[str, Node]) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    stock: dict[tuple[str, str], int] = {}
    weights: dict[str, int] = {}
    for rank in range(SKUS):
        sku = f"SKU-{rank:05d}"
        # Fashion and food: most units weigh under a kilogram, a few are bulky.
        weights[sku] = rng.choices([150, 250, 400, 600, 800, 1200, 2000, 3500], [20, 20, 20, 15, 10, 7, 5, 3])[0]
        popular = rank < 200
        for node_id, node in nodes.items():
            if node_id == MAIN_DC:  # the national DC carries the whole range, with the odd supply gap
                if rng.random() >= MAIN_DC_GAPS:
                    stock[(sku, node_id)] = rng.randint(20, 120) if popular else rng.randint(2, 25)
            elif node.kind.value == "dc":  # regional DCs: the fast movers, and some of the rest
                if popular or rng.random() < (0.5 if rank < 800 else 0.2):
                    stock[(sku, node_id)] = rng.randint(3, 60 if popular else 15)
            elif rng.random() < (0.45 if popular else 0.04):  # stores: a few units of what sells
                stock[(sku, node_id)] = rng.randint(1, 6)
    return stock, weights


def _orders(rng: random.Random) -> list[SourcingInput]:
    cities, populations = zip(*BUYERS.items(), strict=True)
    zipf = [1 / (rank + 1) ** 1.05 for rank in range(SKUS)]
    orders = []
    for _ in range(ORDERS):
        key = rng.choices(cities, populations)[0]
        city = CITIES[key]
        destination = place(
            city.province, city.name, round(city.lat + rng.uniform(-0.04, 0.04), 2),
            round(city.lng + rng.uniform(-0.04, 0.04), 2),
        )  # fmt: skip
        count = rng.choices([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [48, 20, 11, 6, 4, 3, 3, 2, 2, 1])[0]
        skus: list[str] = []
        while len(skus) < count:
            sku = f"SKU-{rng.choices(range(SKUS), zipf)[0]:05d}"
            if sku not in skus:
                skus.append(sku)
        lines = tuple(NeedLine(str(i + 1), sku, rng.choices([1, 2, 3], [82, 13, 5])[0]) for i, sku in enumerate(skus))
        level = rng.choices([ServiceLevel.regular, ServiceLevel.next_day, ServiceLevel.economy], [70, 20, 10])[0]
        orders.append(SourcingInput(Channel.web, DeliveryMethod.ship, level, destination, lines))
    return orders


def _price(options: dict[str, NodeOption], order: SourcingInput, parts: list[tuple[str, str, int]], weights) -> int:
    """The stated cost of (line id, node, units) parts."""
    sku_of = {line.line_id: line.sku for line in order.lines}
    load: dict[str, tuple[int, int]] = {}
    for line_id, node, units in parts:
        w, u = load.get(node, (0, 0))
        load[node] = (w + weights.get(sku_of[line_id], DEFAULT_WEIGHT_G) * units, u + units)
    return sum(options[node].cost(w, u) for node, (w, u) in load.items())


def _magento(order: SourcingInput, stock, ranking: list[str]) -> list[tuple[str, str, int]] | None:
    """Magento MSI's source selection: for each item, the sources in order (priority, or distance),
    taking from each what it has until the item's quantity is met."""
    parts: list[tuple[str, str, int]] = []
    left = dict(stock)
    for line in order.lines:
        need = line.quantity
        for node in ranking:
            take = min(need, left.get((line.sku, node), 0))
            if take > 0:
                parts.append((line.line_id, node, take))
                left[(line.sku, node)] -= take
                need -= take
            if need == 0:
                break
        if need:
            return None
    return parts


def _optimum(order, options, stock, weights, max_open: int) -> int | None:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    opened = {n: h.addBinary(obj=o.fixed) for n, o in options.items()}
    extra = {n: h.addIntegral(lb=0, ub=10_000, obj=o.next_kg) for n, o in options.items()}
    weight: dict[str, list] = {n: [] for n in options}
    per_sku: dict[tuple[str, str], list] = {}
    for line in order.lines:
        assign = []
        for node, option in options.items():
            if stock.get((line.sku, node), 0) >= line.quantity:
                x = h.addBinary(obj=option.handling_per_unit * line.quantity)
                h.addConstr(x <= opened[node])
                assign.append(x)
                weight[node].append((x, weights.get(line.sku, DEFAULT_WEIGHT_G) * line.quantity / 1000))
                per_sku.setdefault((line.sku, node), []).append((x, line.quantity))
        if not assign:
            return None
        h.addConstr(sum(assign) == 1)
    for node, terms in weight.items():
        if terms:
            h.addConstr(extra[node] >= sum(w * x for x, w in terms) - 1)
    for (sku, node), terms in per_sku.items():
        if len(terms) > 1:
            h.addConstr(sum(q * x for x, q in terms) <= stock[(sku, node)])
    h.addConstr(sum(opened.values()) <= max_open)
    h.minimize()
    if str(h.getModelStatus()) != "HighsModelStatus.kOptimal":
        return None
    return round(h.getObjectiveValue())


RUSH_ROUNDS, RUSH_ORDERS, RUSH_STOCK = 3, 50, 10
# A retailer that prices a parcel at what a split costs it in Indonesia (packing and label, the
# buyer's second wait, the contacts it brings, a second COD collection that may be refused).
SPLIT_AVERSE_PARCEL_COST = 60_000


def _rush_order(sku: str, n: int) -> Any:
    body = {
        "channel": "web", "channel_order_id": f"{sku}-{n}",
        "channel_updated_at": "2026-11-26T09:00:00+07:00", "placed_at": "2026-11-26T09:00:00+07:00",
        "shipping_address": {"name": "Budi", "line1": "Jl. Sudirman 1", "city": "Jakarta Selatan",
                             "province": "DKI Jakarta", "postal_code": "12190"},
        "payment": {"status": "paid"},
        "lines": [{"line_id": "1", "sku": sku, "quantity": 1, "unit_price": "25000"}],
        "totals": {"subtotal": "25000", "grand_total": "25000"},
    }  # fmt: skip
    return ("POST", "/orders", body, "web")


def e2e_oversold() -> tuple[int, list[int]]:
    """RUSH_ORDERS concurrent one-unit orders against RUSH_STOCK units, through the local stack:
    capture, the bus, SourcingQueue and the sourcing worker; units allocated beyond the stock."""
    from bench.stock import add_skus, level, request, request_all, sellable
    from oms_local import LocalRuntime
    from tests.support import ROOT

    over, allocated_per_round = 0, []
    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True, "snapshot_interval_s": 0}
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-sourcing-") as data_dir,
        LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt,
    ):
        skus = [f"RUSH-{n}" for n in range(RUSH_ROUNDS)]
        add_skus(rt, skus)
        for sku in skus:
            sellable(rt, sku, RUSH_STOCK)
            answers = request_all(rt.url, [_rush_order(sku, n) for n in range(RUSH_ORDERS)], 25)
            assert all(status == 201 for status, _ in answers), answers[:3]
            rt.drain(timeout=120)
            statuses = []
            for _, answer in answers:
                _status, order = request(rt.url, ("GET", f"/orders/{answer['order_id']}", None, "ops"))
                statuses.append(order["status"])
            allocated = statuses.count("allocated")
            figures = level(rt, sku)
            allocated_per_round.append(allocated)
            assert allocated + statuses.count("backordered") == RUSH_ORDERS, statuses
            over += max(0, allocated - RUSH_STOCK) + max(0, -figures["atp"]) + abs(figures["reserved"] - allocated)
    return over, allocated_per_round


def run() -> dict[str, float]:
    over, allocated = e2e_oversold()
    print(f"  {RUSH_ORDERS} orders for {RUSH_STOCK} units, {RUSH_ROUNDS} rounds: allocated {allocated}")
    return {**planner_figures(), "e2e_oversold_units": over}


def planner_figures() -> dict[str, float]:
    """At the default rules, against all three baselines; then with a split-averse rule set
    (a parcel priced at SPLIT_AVERSE_PARCEL_COST), against the priority baseline."""
    figures = _compare(default_rules(), with_optimum=True)
    averse = default_rules().model_copy(update={"per_shipment_cost": Decimal(SPLIT_AVERSE_PARCEL_COST)})
    other = _compare(averse, with_optimum=False)
    figures["split_rate_split_averse_pct"] = other["split_rate_pct"]
    figures["sourcing_saving_vs_priority_split_averse_pct"] = other["sourcing_saving_vs_priority_pct"]
    return figures


def _compare(rules: SourcingRules, *, with_optimum: bool) -> dict[str, float]:
    rng = random.Random(SEED)
    nodes = _nodes(rng)
    stock, weights = _stock(rng, nodes)
    orders = _orders(rng)
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    max_open = rules.default_channel.max_shipments
    # The merchant's fixed order (Magento "source priority"): the main DC, the other DCs by size, then stores.
    priority = [f"DC-{key[:3].upper()}" for key in DC_CITIES] + sorted(n for n in nodes if n.startswith("ST-"))
    totals = {"planner": 0, "optimum": 0, "priority": 0, "nearest": 0}
    splits = {"planner": 0, "priority": 0}
    times: list[float] = []
    exact = compared = 0
    initial = dict(stock)
    for index, order in enumerate(orders):
        if index % DAY == 0:
            stock = dict(initial)  # the nightly replenishment
        options = {}
        for node_id in sorted(nodes):
            _, option = _reason_for_node(nodes[node_id], order, rules, None, {}, now)
            if option is not None:
                options[node_id] = option
        usable = {k: v for k, v in stock.items() if k[1] in options and v > 0}
        started = time.perf_counter()
        result = plan(order, nodes, stock, weights, rules, eligible=None, capacity_left={}, now=now)
        times.append((time.perf_counter() - started) * 1000)
        if result.unfilled or any(len(s.lines) and s.node_id not in options for s in result.shipments):
            continue  # an order no algorithm can fill whole is not a cost comparison
        choice = {line.line_id: s.node_id for s in result.shipments for line in s.lines}
        if len(choice) != len(order.lines):
            continue  # a line split over nodes: outside the whole-line model the MILP solves
        by_distance = sorted(options, key=lambda n: (options[n].distance or 0, n))
        greedy_priority = _magento(order, usable, [n for n in priority if n in options])
        greedy_nearest = _magento(order, usable, by_distance)
        optimum = _optimum(order, options, usable, weights, max_open) if with_optimum else 0
        if greedy_priority is None or greedy_nearest is None or optimum is None:
            continue
        compared += 1
        exact += bool(result.trace.search and result.trace.search.exact)
        totals["planner"] += int(result.cost.total)
        totals["optimum"] += optimum
        totals["priority"] += _price(options, order, greedy_priority, weights)
        totals["nearest"] += _price(options, order, greedy_nearest, weights)
        splits["planner"] += len(result.shipments) > 1
        splits["priority"] += len({node for _, node, _ in greedy_priority}) > 1
        for shipment in result.shipments:  # the stock the next orders see
            for line in shipment.lines:
                stock[(line.sku, shipment.node_id)] -= line.quantity
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    print(
        f"  per parcel Rp {rules.per_shipment_cost:,}: {compared} orders compared of {len(orders)}; planner "
        f"{totals['planner']:,} IDR, optimum {totals['optimum']:,}, priority {totals['priority']:,}, nearest "
        f"{totals['nearest']:,}; splits {splits['planner']} vs priority {splits['priority']}; "
        f"median plan {statistics.median(times):.2f} ms"
    )
    planner = totals["planner"]
    optimum = totals["optimum"]
    return {
        "sourcing_gap_pct": round(100 * (planner - optimum) / optimum, 3) if optimum else float("nan"),
        "sourcing_saving_vs_priority_pct": round(100 * (totals["priority"] - planner) / totals["priority"], 2),
        "sourcing_saving_vs_nearest_pct": round(100 * (totals["nearest"] - planner) / totals["nearest"], 2),
        "split_rate_pct": round(100 * splits["planner"] / compared, 2),
        "split_rate_priority_pct": round(100 * splits["priority"] / compared, 2),
        "sourcing_p99_ms": round(p99, 3),
        "sourcing_exact_pct": round(100 * exact / compared, 2),
    }
