"""Sourcing's what-ifs, for ops: the plan an order (or a made-up one) would get now, and past
decisions planned again under proposed rules (oms.domain.sourcing_replay). Nothing is reserved
or written."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from oms.domain.geo import place
from oms.domain.planner import NeedLine, SourcingInput
from oms.domain.sourcing_parcels import lines_to_place
from oms.domain.sourcing_planning import SourcingPlanner, Weights
from oms.domain.sourcing_replay import PastDecision, past_decision, replay
from oms.domain.stock import InventoryService
from oms.errors import BadRequest, NotFound
from oms.models.order import PICKUP_METHODS
from oms.models.sourcing import Plan, PlanRequest, SourcingRules
from oms.ports import OrderRepository


class SourcingPreview:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: InventoryService,
        planner: SourcingPlanner,
        weights: Weights,
        clock: Callable[[], datetime],
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.planner = planner
        self.weights = weights
        self.clock = clock

    def dry_run(self, request: PlanRequest) -> Plan:
        """POST /sourcing/plan: the plan, its cost and its trace; nothing reserved or written."""
        now = self.clock()
        rules = request.rules or self.planner.rules()
        if request.order_id is not None:
            order = self.orders.get(request.order_id)
            if order is None:
                raise NotFound(f"no order {request.order_id}")
            lines = lines_to_place(order) or [NeedLine(x.line_id, x.sku, x.quantity) for x in order.lines]
            sourcing_input = self.planner.input_for(order, lines)
        else:
            sourcing_input = self._made_up(request)
        result, _ = self.planner.plan(sourcing_input, rules, now, consistent=False)
        return result

    def _made_up(self, request: PlanRequest) -> SourcingInput:
        """The planner's input for a request that names no order."""
        nodes = self.planner.nodes()
        if request.pickup_node_id and request.pickup_node_id not in nodes:
            raise NotFound(f"no node {request.pickup_node_id}")
        self.inventory.check_skus(line.sku for line in request.lines)
        dest = request.destination
        if request.delivery_method in PICKUP_METHODS and request.pickup_node_id:
            store = nodes[request.pickup_node_id]
            destination = place(store.province, store.city, store.lat, store.lng)
        elif dest is None:
            raise BadRequest("destination is required unless the order is picked up")
        else:
            destination = place(dest.province, dest.city, dest.lat, dest.lng)
        return SourcingInput(
            channel=request.channel,
            method=request.delivery_method,
            service_level=request.service_level,
            destination=destination,
            lines=tuple(
                NeedLine(line.line_id or str(index + 1), line.sku, line.quantity)
                for index, line in enumerate(request.lines)
            ),
            pickup_node_id=request.pickup_node_id,
            ship_by=request.ship_by,
        )

    def replay(self, proposed: SourcingRules, order_ids: Iterable[str], examples: int = 20) -> dict[str, Any]:
        """Every stored decision of these orders planned again under the rules in force and under
        `proposed`, from the stock each decision saw: cost, splits and lateness side by side."""
        decisions: list[PastDecision] = []
        for order_id in order_ids:
            order = self.orders.get(order_id)
            if order is None:
                continue
            base = self.planner.input_for(order, [])
            for record in self.orders.traces(order_id):
                if "input" in record["plan"]:
                    at = datetime.fromisoformat(record["at"])
                    decisions.append(past_decision(order_id, at, base, record["plan"]))
        skus = {line.sku for decision in decisions for line in decision.order.lines}
        report = replay(
            decisions,
            self.planner.nodes(),
            self.weights.weights(skus) if skus else {},
            self.planner.rules(),
            proposed,
            self.planner.eligible,
            examples,
        )
        return report.as_dict()
