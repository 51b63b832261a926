"""The sourcing planner, in plain Python: which node(s) ship which lines of one
order, at the lowest stated cost, and why.

The stated cost of a plan is, per shipment (one node's parcel):

    per-shipment cost + the node's handling (per parcel and per unit)
    + the courier's price for the zone and service (first kg, then each started kg)
    + a late penalty when the lane's slowest transit misses the service level

plus a large penalty per unit left unfilled, so a plan fills what it can.

The search is exact branch and bound over the lines (each line whole to one
node): lines with the fewest candidates first, open nodes tried before new
ones, new ones in order of their fixed cost, and a branch dropped as soon as
its cost so far reaches the best plan found. The first incumbent is the best
single-node plan. A search that reaches its node limit returns the best plan
found and says it was not proven optimal. Ties go to the plan found first,
and the order of everything is fixed, so equal inputs give equal plans.

A line no node can fill whole is split over nodes before the search (units
from the cheapest nodes first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from oms.domain.geo import Place, distance_km, place, zone_between
from oms.models.inventory import Node, NodeKind
from oms.models.order import PICKUP_METHODS, Channel, DeliveryMethod, ServiceLevel
from oms.models.sourcing import (
    ComparedPlan,
    CostBreakdown,
    LineTrace,
    NodeTrace,
    Plan,
    PlannedLine,
    PlannedShipment,
    PlanOutcome,
    PlanTrace,
    SearchTrace,
    ShortLine,
    SourcingRules,
)

SEARCH_LIMIT = 4_000  # branch-and-bound nodes; typical orders need far fewer (see `make bench`)
DEFAULT_WEIGHT_G = 1_000  # a SKU without a weight in the catalog is billed as 1 kg a unit
COMPARED_SHOWN = 8
# Leaving a unit unfilled costs more than any shipping could: plans fill what they can first,
# then are as cheap as possible (a lexicographic order, as one number).
UNFILLED_PER_UNIT = 10**12
MAX_SEARCH_LINES = 120  # deeper searches would run into Python's recursion limit; larger orders go greedy


class CapacityClass:
    """Daily capacity is counted per node for these three kinds of work."""

    ship = "ship"
    pickup = "pickup"
    same_day = "same_day"

    @staticmethod
    def of(method: DeliveryMethod) -> str:
        if method in PICKUP_METHODS:
            return CapacityClass.pickup
        if method in (DeliveryMethod.same_day, DeliveryMethod.instant):
            return CapacityClass.same_day
        return CapacityClass.ship


@dataclass(frozen=True)
class NeedLine:
    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class SourcingInput:
    """What the planner needs of an order: no names, no street, no money."""

    channel: Channel
    method: DeliveryMethod
    service_level: ServiceLevel
    destination: Place
    lines: tuple[NeedLine, ...]
    pickup_node_id: str | None = None
    ship_by: datetime | None = None
    postal_code: str | None = None


# Whether a parcel from a node misses the order's service level: True/False, why it cannot ship at
# all, or None when the promising module has no answer (the rate table's days decide).
Lateness = Callable[[Node], bool | str | None]


@dataclass(frozen=True)
class NodeOption:
    """A node that may ship this order, with what a parcel from it costs."""

    node_id: str
    kind: str
    shipment: int
    handling: int
    handling_per_unit: int
    first_kg: int
    next_kg: int
    late_penalty: int
    zone: str | None
    distance: int | None
    days_max: int | None

    @property
    def fixed(self) -> int:
        return self.shipment + self.handling + self.first_kg + self.late_penalty

    @property
    def kg_floor(self) -> int:
        """The cheaper of the two kilogram prices: a parcel of W kg costs at least fixed - this + this x W."""
        return min(self.first_kg, self.next_kg)

    def cost(self, weight_g: int, units: int) -> int:
        extra_kg = max(0, -(-weight_g // 1000) - 1)
        return self.fixed + self.next_kg * extra_kg + self.handling_per_unit * units

    def breakdown(self, weight_g: int, units: int) -> CostBreakdown:
        extra_kg = max(0, -(-weight_g // 1000) - 1)
        shipping = self.first_kg + self.next_kg * extra_kg
        handling = self.handling + self.handling_per_unit * units
        total = self.shipment + handling + shipping + self.late_penalty
        return CostBreakdown(
            shipment=Decimal(self.shipment),
            handling=Decimal(handling),
            shipping=Decimal(shipping),
            late_penalty=Decimal(self.late_penalty),
            total=Decimal(total),
        )


def _reason_for_node(  # noqa: PLR0911, PLR0912 (one rule after another, first failing one named)
    node: Node,
    order: SourcingInput,
    rules: SourcingRules,
    eligible: set[str] | None,
    capacity_left: Mapping[tuple[str, str], int],
    now: datetime,
    excluded: Mapping[str, str] | None = None,
    lateness: Lateness | None = None,
) -> tuple[str | None, NodeOption | None]:
    """(why the node is removed, None) or (None, its option)."""
    if not node.enabled:
        return "node disabled", None
    if excluded and node.node_id in excluded:
        return excluded[node.node_id], None
    if eligible is not None and node.node_id not in eligible:
        return f"not a node of channel {order.channel.value}", None
    origin = place(node.province, node.city, node.lat, node.lng)
    dest = order.destination
    distance = (
        round(distance_km(origin.lat, origin.lng, dest.lat, dest.lng))  # type: ignore[arg-type]
        if origin.located and dest.located
        else None
    )
    method = order.method
    zone: str | None = None
    days_max: int | None = None
    late = 0
    first_kg = next_kg = 0
    if method in PICKUP_METHODS:
        if node.node_id != order.pickup_node_id:
            return "not the pickup store", None
        if not node.may_pickup:
            return "no pickup at this node", None
    elif method in (DeliveryMethod.same_day, DeliveryMethod.instant):
        local = rules.same_day if method is DeliveryMethod.same_day else rules.instant
        if not node.may_same_day:
            return f"no {method.value} delivery from this node", None
        if local is None:
            return f"no {method.value} rate in the rules", None
        if distance is None:
            return "destination location unknown", None
        if distance > local.radius_km:
            return f"{distance} km away ({method.value} reaches {local.radius_km} km)", None
        first_kg = int(local.base) + int(local.per_km) * max(1, distance)
        zone, days_max = method.value, 0
        verdict = lateness(node) if lateness is not None else None
        if isinstance(verdict, str):
            return verdict, None
        if verdict:
            return f"cannot deliver {method.value} today (past its cut-off or closed)", None
    else:
        if not node.may_ship:
            return "node does not ship", None
        if node.kind is NodeKind.store:
            if distance is None:
                return "destination location unknown (ship from store needs it)", None
            if distance > rules.max_store_distance_km:
                return f"store {distance} km away (ship from store up to {rules.max_store_distance_km} km)", None
        zone = zone_between(origin, dest, rules.metro_km)
        if zone is None:
            return "region of node or destination unknown", None
        level = order.service_level if order.service_level in rules.service_days else ServiceLevel.regular
        cell = rules.rates.get(zone, {}).get(level)
        if cell is None:
            return f"no {level.value} rate for zone {zone}", None
        first_kg, next_kg, days_max = int(cell.first_kg), int(cell.next_kg), cell.days_max
        verdict = lateness(node) if lateness is not None else None
        if isinstance(verdict, str):
            return verdict, None  # the promising module finds the node closed for weeks
        if verdict is None:  # no promise to ask: the rate table's transit days decide
            verdict = days_max > rules.service_days[level]
        if verdict:
            late = int(rules.late_penalty)
    capacity = capacity_left.get((node.node_id, CapacityClass.of(method)))
    if capacity is not None and capacity <= 0:
        return f"daily {CapacityClass.of(method)} capacity reached", None
    if order.ship_by is not None and now + timedelta(hours=node.lead_time_hours) > order.ship_by:
        return f"cannot hand over by the ship-by time (lead time {node.lead_time_hours} h)", None
    option = NodeOption(
        node_id=node.node_id,
        kind=node.kind.value,
        shipment=int(rules.per_shipment_cost),
        handling=int(node.handling_cost),
        handling_per_unit=int(node.handling_cost_per_unit),
        first_kg=first_kg,
        next_kg=next_kg,
        late_penalty=late,
        zone=zone,
        distance=distance,
        days_max=days_max,
    )
    return None, option


@dataclass
class _Search:
    """Branch and bound state; plain lists and dicts for speed."""

    lines: list[NeedLine]
    weights: list[int]  # grams per line (quantity x unit weight)
    candidates: list[list[NodeOption]]  # per line, by fixed cost then node id
    stock: dict[tuple[str, str], int]
    max_open: int
    unfilled_cost: int
    limit: int
    best_cost: int = 0
    best: list[str | None] = field(default_factory=list)
    explored: int = 0
    found: dict[tuple[str, ...], tuple[int, int]] = field(default_factory=dict)

    def run(self, options: dict[str, NodeOption], incumbent: tuple[int, list[str | None]]) -> bool:
        """True when the search finished (the plan is optimal), False when it hit its limit."""
        self.best_cost, self.best = incumbent
        self.weight: dict[str, int] = {}
        self.units: dict[str, int] = {}
        self.options = options
        self.choice: list[str | None] = [None] * len(self.lines)
        count = len(self.lines)
        self.candidate_ids = [{o.node_id for o in cands} for cands in self.candidates]
        # Per remaining line, in thousandths of a rupiah: its unfilled cost P, and what filling it
        # costs at least, a = cheapest per-unit handling + weight x cheapest kilogram price
        # (capped at P: leaving it unfilled is always possible), and what a new parcel adds on top.
        self.penalty = [self.unfilled_cost * line.quantity * 1000 for line in self.lines]
        self.fill_floor = []
        self.new_extra = []
        for j in range(count):
            cands = self.candidates[j]
            if not cands:
                self.fill_floor.append(self.penalty[j])  # no node has it: unfilled for certain
                self.new_extra.append(0)
                continue
            per_unit = min(o.handling_per_unit for o in cands) * self.lines[j].quantity * 1000
            per_kg = min(o.kg_floor for o in cands) * self.weights[j]
            base = min(o.fixed - o.kg_floor for o in cands) * 1000
            floor = min(self.penalty[j], per_unit + per_kg)
            self.fill_floor.append(floor)
            self.new_extra.append(min(self.penalty[j], base + per_unit + per_kg) - floor)
        self.floor_suffix = [0] * (count + 1)
        for j in range(count - 1, -1, -1):
            self.floor_suffix[j] = self.floor_suffix[j + 1] + self.fill_floor[j]
        self._dfs(0, 0)
        return self.explored < self.limit

    def _dfs(self, index: int, cost: int) -> None:  # noqa: PLR0912 (the branch step, kept in one piece for speed)
        if self.explored >= self.limit:
            return
        self.explored += 1
        if index == len(self.lines):
            self._leaf(cost)
            return
        opened = [n for n in self.weight if self.units[n] > 0]
        if cost + self._bound(index, opened) >= self.best_cost:
            return
        line, weight = self.lines[index], self.weights[index]
        children: list[tuple[int, str | None]] = []
        # Into a parcel already planned, or a new parcel (those by fixed cost, so the loop can stop early).
        for node in opened:
            option = self.options[node]
            if self.stock.get((line.sku, node), 0) < line.quantity:
                continue
            before = option.cost(self.weight[node], self.units[node])
            after = option.cost(self.weight[node] + weight, self.units[node] + line.quantity)
            if cost + after - before < self.best_cost:
                children.append((cost + after - before, node))
        if len(opened) < self.max_open:
            for option in self.candidates[index]:
                node = option.node_id
                if cost + option.fixed >= self.best_cost:
                    break  # candidates are in order of fixed cost: none after this one can do better
                if node in self.units and self.units[node] > 0:
                    continue
                if self.stock.get((line.sku, node), 0) < line.quantity:
                    continue
                new_cost = cost + option.cost(weight, line.quantity)
                if new_cost < self.best_cost:
                    children.append((new_cost, node))
        unfilled = cost + self.unfilled_cost * line.quantity
        if unfilled < self.best_cost:
            children.append((unfilled, None))
        # Cheapest first: a good plan early prunes the rest. The sort is stable, so ties keep their order.
        children.sort(key=lambda child: child[0])
        for new_cost, node in children:
            if new_cost >= self.best_cost:
                break
            if node is None:
                self.choice[index] = None
                self._dfs(index + 1, new_cost)
            else:
                self._place(index, node, (line.sku, node), weight, line.quantity, new_cost)

    def _bound(self, index: int, opened: list[str]) -> int:
        """A lower bound on what the lines from index on add to the cost.

        A parcel costs at least (fixed - r) + r x its weight in kg, r = its cheaper kilogram price.
        So each remaining line adds at least min(P, its cheapest per-unit handling + its weight at
        its cheapest r), P = leaving it unfilled; less what still fits in the open parcels' started
        kilograms. A line with no candidate among the open parcels needs a new parcel or stays
        unfilled: the largest such extra counts once (parcels are shared); at the limit of parcels
        those lines stay unfilled, each at its full P.
        """
        open_set = set(opened)
        at_max = len(opened) >= self.max_open
        need = 0
        for j in range(index, len(self.lines)):
            if self.candidate_ids[j] and self.candidate_ids[j].isdisjoint(open_set):
                if at_max:
                    need += self.penalty[j] - self.fill_floor[j]
                elif self.new_extra[j] > need:
                    need = self.new_extra[j]
        slack = 0
        for node in opened:
            weight = self.weight[node]
            slack += self.options[node].kg_floor * (max(1000, -(-weight // 1000) * 1000) - weight)
        return max(0, self.floor_suffix[index] - slack + need) // 1000

    def _leaf(self, cost: int) -> None:
        key = tuple(sorted(n for n in self.weight if self.units[n] > 0))
        unfilled = sum(self.lines[i].quantity for i, c in enumerate(self.choice) if c is None)
        if key not in self.found or cost < self.found[key][0]:
            self.found[key] = (cost, unfilled)
        if cost < self.best_cost:
            self.best_cost, self.best = cost, list(self.choice)

    def _place(self, index: int, node: str, key: tuple[str, str], weight: int, units: int, cost: int) -> None:
        self.stock[key] -= units
        self.weight[node] = self.weight.get(node, 0) + weight
        self.units[node] = self.units.get(node, 0) + units
        self.choice[index] = node
        self._dfs(index + 1, cost)
        self.choice[index] = None
        self.units[node] -= units
        self.weight[node] -= weight
        self.stock[key] += units


def plan(  # noqa: PLR0912, PLR0915 (the planner's whole story in one place, in order)
    order: SourcingInput,
    nodes: Mapping[str, Node],
    stock: Mapping[tuple[str, str], int],
    weights_g: Mapping[str, int],
    rules: SourcingRules,
    *,
    eligible: set[str] | None,
    capacity_left: Mapping[tuple[str, str], int],
    now: datetime,
    excluded: Mapping[str, str] | None = None,
    limit: int = SEARCH_LIMIT,
    lateness: Lateness | None = None,
) -> Plan:
    """stock: ATP per (sku, node). eligible: the nodes the channel may use (None = all).
    excluded: nodes not to use for this order, with the reason (they rejected it)."""
    notes: list[str] = []
    channel_rules = rules.for_channel(order.channel)
    node_traces: list[NodeTrace] = []
    options: dict[str, NodeOption] = {}
    for node_id in sorted(nodes):
        node = nodes[node_id]
        reason, option = _reason_for_node(node, order, rules, eligible, capacity_left, now, excluded, lateness)
        if option is not None:
            options[node_id] = option
        node_traces.append(
            NodeTrace(
                node_id=node_id,
                kind=node.kind.value,
                removed=reason,
                zone=option.zone if option else None,
                distance_km=option.distance if option else None,
                shipment_cost=Decimal(option.fixed) if option else None,
            )
        )
    missing_weight = sorted({line.sku for line in order.lines if line.sku not in weights_g})
    if missing_weight:
        notes.append(f"no weight for {', '.join(missing_weight)}: billed as {DEFAULT_WEIGHT_G} g a unit")

    # Usable stock per (sku, node): ATP at or above the node's routing threshold.
    usable: dict[tuple[str, str], int] = {}
    for line in order.lines:
        for node_id in options:
            atp = stock.get((line.sku, node_id), 0)
            if atp > 0 and atp >= nodes[node_id].routing_threshold:
                usable[(line.sku, node_id)] = atp
    ranked = sorted(options.values(), key=lambda o: (o.fixed, o.node_id))
    line_traces: list[LineTrace] = []
    whole: list[NeedLine] = []
    split: list[NeedLine] = []  # no node holds the whole line: placed over several after the search
    unfilled: list[ShortLine] = []
    for line in order.lines:
        unit = weights_g.get(line.sku, DEFAULT_WEIGHT_G)
        cands = [o.node_id for o in ranked if usable.get((line.sku, o.node_id), 0) >= line.quantity]
        chosen = set(cands)
        short = {
            o.node_id: usable.get((line.sku, o.node_id), stock.get((line.sku, o.node_id), 0))
            for o in ranked
            if o.node_id not in chosen and stock.get((line.sku, o.node_id), 0) > 0
        }
        line_traces.append(
            LineTrace(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                weight_g=unit * line.quantity,
                candidates=cands,
                short=short,
            )
        )
        if cands or not options:
            whole.append(line)
        elif any(usable.get((line.sku, o.node_id), 0) for o in ranked):
            split.append(line)
        else:
            unfilled.append(
                ShortLine(
                    line_id=line.line_id, sku=line.sku, quantity=line.quantity, reason="no eligible node has the stock"
                )
            )

    trace = PlanTrace(
        rules_version=rules.version,
        destination={
            "region": order.destination.region,
            "province": order.destination.province,
            "city": order.destination.city,
            "located": order.destination.located,
        },
        method=order.method,
        service_level=order.service_level,
        nodes=node_traces,
        lines=line_traces,
        compared=[],
        winner=[],
        notes=notes,
    )
    if not options:
        return _no_plan(order, trace, PlanOutcome.unroutable, "no node passes the rules (see trace.nodes)")
    if order.method in PICKUP_METHODS:
        demand: dict[str, int] = {}
        for line in order.lines:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
        store = order.pickup_node_id or ""
        if any(usable.get((sku, store), 0) < quantity for sku, quantity in demand.items()):
            return _pickup_unavailable(order, nodes, stock, trace, eligible)

    weight_of = {line.line_id: weights_g.get(line.sku, DEFAULT_WEIGHT_G) for line in order.lines}
    traces_by_id = {t.line_id: t for t in line_traces}
    # Fewest candidates first (they decide the most), then the heaviest.
    lines = sorted(
        whole, key=lambda x: (len(traces_by_id[x.line_id].candidates), -weight_of[x.line_id] * x.quantity, x.line_id)
    )
    dominated = _dominated(lines, ranked, usable, {})
    for node_trace in trace.nodes:
        node_trace.dominated_by = dominated.get(node_trace.node_id)
    searched = [o for o in ranked if o.node_id not in dominated]
    search = _Search(
        lines=lines,
        weights=[weight_of[line.line_id] * line.quantity for line in lines],
        candidates=[[o for o in searched if usable.get((line.sku, o.node_id), 0) >= line.quantity] for line in lines],
        stock=dict(usable),
        max_open=channel_rules.max_shipments,
        unfilled_cost=UNFILLED_PER_UNIT,
        limit=limit,
    )
    incumbent = _single_node_incumbent(search, ranked)
    if len(lines) <= MAX_SEARCH_LINES:
        exact = search.run(options, incumbent)
    else:
        exact = False
        search.best = _fill_greedily(search, incumbent[1])
        trace.notes.append(f"{len(lines)} lines: planned greedily (the exact search takes up to {MAX_SEARCH_LINES})")
    choice = search.best

    # Lines no node holds whole take the stock the whole lines left, fewest nodes first.
    left_stock = dict(usable)
    opened_nodes: list[str] = []
    for line, node_id in zip(lines, choice, strict=True):
        if node_id is not None:
            left_stock[(line.sku, node_id)] -= line.quantity
            if node_id not in opened_nodes:
                opened_nodes.append(node_id)
    parts: list[tuple[NeedLine, str]] = []
    for line in sorted(split, key=lambda x: (-weight_of[x.line_id] * x.quantity, x.line_id)):
        placed = _split_line(line, ranked, left_stock, opened_nodes, channel_rules.max_shipments)
        parts += placed
        left = line.quantity - sum(part.quantity for part, _ in placed)
        if left:
            reason = (
                f"only {line.quantity - left} of {line.quantity} at eligible nodes "
                f"within {channel_rules.max_shipments} shipment(s)"
                if left < line.quantity
                else f"would need more than {channel_rules.max_shipments} shipment(s)"
            )
            unfilled.append(ShortLine(line_id=line.line_id, sku=line.sku, quantity=left, reason=reason))
        if placed:
            note = f"line {line.line_id} split over nodes: no eligible node holds all {line.quantity} units"
            trace.notes.append(note)

    # The winner as shipments.
    by_node: dict[str, list[PlannedLine]] = {}
    for part, node_id in parts:
        by_node.setdefault(node_id, []).append(PlannedLine(line_id=part.line_id, sku=part.sku, quantity=part.quantity))
    for line, node_id in zip(lines, choice, strict=True):
        if node_id is None:
            unfilled.append(
                ShortLine(
                    line_id=line.line_id,
                    sku=line.sku,
                    quantity=line.quantity,
                    reason=_unfilled_reason(traces_by_id[line.line_id], channel_rules.max_shipments),
                )
            )
        else:
            by_node.setdefault(node_id, []).append(
                PlannedLine(line_id=line.line_id, sku=line.sku, quantity=line.quantity)
            )
    shipments = []
    for node_id in sorted(by_node):
        planned = sorted(by_node[node_id], key=lambda p: p.line_id)
        option = options[node_id]
        weight = sum(weight_of[p.line_id] * p.quantity for p in planned)
        units = sum(p.quantity for p in planned)
        shipments.append(
            PlannedShipment(
                node_id=node_id,
                kind=option.kind,
                lines=planned,
                zone=option.zone,
                distance_km=option.distance,
                weight_g=weight,
                transit_days_max=option.days_max,
                late=option.late_penalty > 0,
                cost=option.breakdown(weight, units),
            )
        )
    unfilled.sort(key=lambda u: u.line_id)
    trace.compared = [  # the whole lines' plans; what they leave unfilled is counted, not priced
        ComparedPlan(nodes=list(key), total=Decimal(cost - UNFILLED_PER_UNIT * left), unfilled_units=left)
        for key, (cost, left) in sorted(search.found.items(), key=lambda kv: (kv[1][0], kv[0]))[:COMPARED_SHOWN]
    ]
    trace.winner = [s.node_id for s in shipments]
    trace.search = SearchTrace(exact=exact, explored=search.explored, limit=limit)
    total = CostBreakdown()
    for shipment in shipments:
        total = CostBreakdown(
            shipment=total.shipment + shipment.cost.shipment,
            handling=total.handling + shipment.cost.handling,
            shipping=total.shipping + shipment.cost.shipping,
            late_penalty=total.late_penalty + shipment.cost.late_penalty,
            total=total.total + shipment.cost.total,
        )
    if not shipments:
        outcome, reason = PlanOutcome.unfilled, "no eligible node has the stock"
    elif unfilled:
        outcome, reason = PlanOutcome.partial, f"{sum(u.quantity for u in unfilled)} unit(s) cannot be filled now"
    else:
        outcome, reason = PlanOutcome.allocated, None
    return Plan(outcome=outcome, shipments=shipments, unfilled=unfilled, cost=total, reason=reason, trace=trace)


def _split_line(
    line: NeedLine, ranked: list[NodeOption], left: dict[tuple[str, str], int], opened: list[str], max_open: int
) -> list[tuple[NeedLine, str]]:
    """A line no node holds whole: the parcels already planned first, then new ones while the
    parcel limit allows, the fullest first (fewest parcels); then the units go to the chosen
    nodes that are cheaper per unit first. Takes from `left`; adds new nodes to `opened`."""
    by_fill = sorted(ranked, key=lambda o: (o.node_id not in opened, -left.get((line.sku, o.node_id), 0), o.fixed))
    chosen: list[NodeOption] = []
    need = line.quantity
    count = len(opened)
    for option in by_fill:
        have = left.get((line.sku, option.node_id), 0)
        if have <= 0 or (option.node_id not in opened and count >= max_open):
            continue
        chosen.append(option)
        count += option.node_id not in opened
        need -= min(have, need)
        if need == 0:
            break
    parts = []
    need = line.quantity
    for option in sorted(chosen, key=lambda o: (o.kg_floor, o.handling_per_unit, o.fixed, o.node_id)):
        key = (line.sku, option.node_id)
        take = min(left[key], need)
        if take <= 0:
            continue
        parts.append((NeedLine(line.line_id, line.sku, take), option.node_id))
        left[key] -= take
        need -= take
        if option.node_id not in opened:
            opened.append(option.node_id)
    return parts


def _dominated(
    lines: list[NeedLine], ranked: list[NodeOption], usable: Mapping[tuple[str, str], int], opened: Mapping[str, object]
) -> dict[str, str]:
    """Nodes the search can skip, each with a node that dominates it: a node that costs no more
    in any part (fixed, per kg, per unit) and holds the order's whole demand of every SKU the
    skipped node holds any of. Any plan using the skipped node is matched or beaten by moving its
    lines to the dominating one (one parcel's fixed cost is at least one kilogram's price)."""
    demand: dict[str, int] = {}
    for line in lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    touch = {o.node_id: frozenset(s for s in demand if usable.get((s, o.node_id), 0) > 0) for o in ranked}
    full = {o.node_id: frozenset(s for s in demand if usable.get((s, o.node_id), 0) >= demand[s]) for o in ranked}
    out: dict[str, str] = {}
    for b in ranked:
        if b.node_id in opened or not touch[b.node_id]:
            continue
        for a in ranked:
            if a.fixed > b.fixed:
                break  # ranked by fixed cost
            if a is b or a.node_id in out:
                continue
            if (
                a.next_kg <= b.next_kg
                and a.first_kg - a.next_kg <= b.first_kg - b.next_kg
                and a.handling_per_unit <= b.handling_per_unit
                and a.next_kg <= a.fixed
                and touch[b.node_id] <= full[a.node_id]
            ):
                out[b.node_id] = a.node_id
                break
    return out


def _unfilled_reason(trace: LineTrace, max_shipments: int) -> str:
    if not trace.candidates:
        return "no eligible node has the stock" if not trace.short else "too few units at every eligible node"
    return f"would need more than {max_shipments} shipment(s)"


def _single_node_incumbent(search: _Search, every: list[NodeOption]) -> tuple[int, list[str | None]]:
    """The best plan that ships every whole line from one node (or leaves it unfilled): a
    strong first bound, since a second parcel usually costs more than any saving. Every node
    is priced, the dominated ones too, so the trace can show what each would have cost."""
    unfilled_cost = search.unfilled_cost
    nothing = unfilled_cost * sum(line.quantity for line in search.lines)
    best: tuple[int, list[str | None]] = (nothing + 1, [None] * len(search.lines))
    for option in every:
        node = option.node_id
        w = u = cost = 0
        choice: list[str | None] = []
        used: dict[str, int] = {}
        for index, line in enumerate(search.lines):
            have = search.stock.get((line.sku, node), 0) - used.get(line.sku, 0)
            if have >= line.quantity:
                choice.append(node)
                used[line.sku] = used.get(line.sku, 0) + line.quantity
                w += search.weights[index]
                u += line.quantity
            else:
                choice.append(None)
                cost += unfilled_cost * line.quantity
        if u == 0:
            continue  # this node holds none of the lines
        cost += option.cost(w, u)
        left = sum(line.quantity for line, c in zip(search.lines, choice, strict=True) if c is None)
        search.found[(node,)] = (cost, left)  # shown in the trace beside the winner
        if cost < best[0]:
            best = (cost, choice)
    # The search only records plans strictly better than its incumbent: one unit above it
    # lets the search find (and record) this plan itself.
    return best[0] + 1, best[1]


def _fill_greedily(search: _Search, start: list[str | None]) -> list[str | None]:
    """For very large orders: the best single-node plan, then each line it left unfilled (heaviest
    first) where it adds least: into a parcel already planned, or a new one while parcels remain."""
    choice = list(start)
    weight: dict[str, int] = {}
    units: dict[str, int] = {}
    left = dict(search.stock)
    for index, node in enumerate(choice):
        if node is not None:
            line = search.lines[index]
            weight[node] = weight.get(node, 0) + search.weights[index]
            units[node] = units.get(node, 0) + line.quantity
            left[(line.sku, node)] -= line.quantity
    waiting = sorted((i for i, node in enumerate(choice) if node is None), key=lambda i: -search.weights[i])
    for index in waiting:
        line = search.lines[index]
        best: tuple[int, str] | None = None
        for option in search.candidates[index]:
            node = option.node_id
            is_open = units.get(node, 0) > 0
            if left.get((line.sku, node), 0) < line.quantity or (
                not is_open and sum(1 for u in units.values() if u > 0) >= search.max_open
            ):
                continue
            w, u = weight.get(node, 0), units.get(node, 0)
            added = option.cost(w + search.weights[index], u + line.quantity) - (option.cost(w, u) if is_open else 0)
            if best is None or added < best[0]:
                best = (added, node)
        if best is not None and best[0] < search.unfilled_cost * line.quantity:
            node = best[1]
            choice[index] = node
            weight[node] = weight.get(node, 0) + search.weights[index]
            units[node] = units.get(node, 0) + line.quantity
            left[(line.sku, node)] -= line.quantity
    return choice


def _no_plan(order: SourcingInput, trace: PlanTrace, outcome: PlanOutcome, reason: str) -> Plan:
    unfilled = [ShortLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, reason=reason) for x in order.lines]
    return Plan(outcome=outcome, shipments=[], unfilled=unfilled, cost=CostBreakdown(), reason=reason, trace=trace)


def _pickup_unavailable(
    order: SourcingInput,
    nodes: Mapping[str, Node],
    stock: Mapping[tuple[str, str], int],
    trace: PlanTrace,
    eligible: set[str] | None,
) -> Plan:
    """The pickup store cannot hold every unit: name the nearest stores that can."""
    chosen = nodes.get(order.pickup_node_id or "")
    here = place(chosen.province, chosen.city, chosen.lat, chosen.lng) if chosen else order.destination
    needed: dict[str, int] = {}
    for line in order.lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    nearby: list[tuple[float, str]] = []
    for node_id, node in nodes.items():
        if node_id == order.pickup_node_id or not (node.enabled and node.may_pickup):
            continue
        if eligible is not None and node_id not in eligible:
            continue
        if any(stock.get((sku, node_id), 0) < max(qty, node.routing_threshold) for sku, qty in needed.items()):
            continue
        there = place(node.province, node.city, node.lat, node.lng)
        far = distance_km(here.lat, here.lng, there.lat, there.lng) if here.located and there.located else 1e9
        nearby.append((far, node_id))
    alternatives = [node_id for _, node_id in sorted(nearby)[:3]]
    reason = f"pickup store {order.pickup_node_id} cannot hold every unit"
    plan = _no_plan(order, trace, PlanOutcome.pickup_unavailable, reason)
    plan.alternatives = alternatives
    trace.notes.append("stores nearby that hold every unit: " + (", ".join(alternatives) if alternatives else "none"))
    return plan
