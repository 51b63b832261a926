"""The planner's view of the data: the stock, the nodes' capacity left today, the nodes a channel
may use and whether a node would deliver late, handed to oms.domain.planner; and the promise a
parcel from a node gets. Reads, never writes. Sourcing plans through it, and so do promising's
quotes (oms.domain.promising.Planner)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from oms.domain.availability import Position
from oms.domain.planner import Lateness, NeedLine, SourcingInput, plan
from oms.domain.promising import Promiser, Refusal
from oms.domain.sourcing_parcels import shipped_level, sourcing_input
from oms.domain.stock import InventoryService
from oms.models.inventory import Node
from oms.models.order import PICKUP_METHODS, DeliveryMethod, Order, PromiseDates
from oms.models.sourcing import Plan, SourcingRules
from oms.ports.stock import CapacityCounter


class Reference(Protocol):
    def nodes(self) -> dict[str, Node]: ...

    def policy(self, channel: Any) -> Any: ...

    def sourcing_rules(self) -> SourcingRules: ...


class Weights(Protocol):
    def weights(self, skus: set[str]) -> dict[str, int]: ...


class SourcingPlanner:
    def __init__(
        self,
        inventory: InventoryService,
        reference: Reference,
        weights: Weights,
        capacity: CapacityCounter,
        promiser: Callable[[], Promiser] | None = None,
    ) -> None:
        self.inventory = inventory
        self.reference = reference
        self.weights = weights
        self.capacity = capacity
        self.promiser = promiser  # the promising module for the rules in force; None: rate-table lateness

    def nodes(self) -> dict[str, Node]:
        return self.reference.nodes()

    def rules(self) -> SourcingRules:
        """The sourcing rules in force."""
        return self.reference.sourcing_rules()

    def input_for(self, order: Order, lines: Iterable[NeedLine]) -> SourcingInput:
        return sourcing_input(order, lines, self.reference.nodes())

    def eligible(self, rules: SourcingRules, order_channel: Any) -> set[str] | None:
        """The nodes the channel may use under these rules (its stock policy's when the rules say nothing)."""
        chosen = rules.for_channel(order_channel).nodes
        if chosen is None:
            chosen = self.reference.policy(order_channel).nodes
        return set(chosen) if chosen is not None else None

    def capacity_left(self, nodes: dict[str, Node], now: datetime) -> dict[tuple[str, str], int]:
        limited = {node_id: node for node_id, node in nodes.items() if node.daily_capacity}
        if not limited:
            return {}
        days = {node_id: now.astimezone(ZoneInfo(node.tz)).date() for node_id, node in limited.items()}
        used = self.capacity.used(days)
        left = {}
        for node_id, node in limited.items():
            for kind, limit in (node.daily_capacity or {}).items():
                left[(node_id, kind)] = limit - used.get((node_id, kind), 0)
        return left

    def plan(
        self,
        request: SourcingInput,
        rules: SourcingRules,
        now: datetime,
        *,
        consistent: bool,
        excluded: dict[str, str] | None = None,
    ) -> tuple[Plan, dict[tuple[str, str], Position]]:
        """The cheapest plan from a stock read made now, with the positions it read."""
        nodes = self.reference.nodes()
        skus = sorted({line.sku for line in request.lines})
        positions = self.inventory.positions(skus, consistent=consistent)
        stock = {key: position.atp for key, position in positions.items()}
        result = plan(
            request,
            nodes,
            stock,
            self.weights.weights(set(skus)),
            rules,
            eligible=self.eligible(rules, request.channel),
            capacity_left=self.capacity_left(nodes, now),
            now=now,
            excluded=excluded,
            lateness=self._lateness(request, rules, now),
        )
        return result, positions

    def _lateness(self, request: SourcingInput, rules: SourcingRules, now: datetime) -> Lateness | None:
        """Whether a parcel from a node would miss the order's service level, by the promising module:
        so a plan is charged for exactly the lateness the promise will show. A node closed for weeks
        is removed; where promising has no lane, the rate table's days decide (None)."""
        if self.promiser is None or request.method in PICKUP_METHODS:
            return None
        promiser = self.promiser()
        if request.method is DeliveryMethod.ship:
            level = shipped_level(request.service_level, rules)
            target = promiser.target_date(now, request.destination, rules.service_days[level])
        else:  # same day, instant: late when it cannot go today
            level, target = request.service_level, None

        def late(node: Node) -> bool | str | None:
            dates = promiser.parcel(node, request.destination, request.postal_code, request.method, level, now)
            if isinstance(dates, Refusal):
                return dates.reason if dates.closed else None
            if target is None:
                return (
                    dates.deliver_by is not None
                    and dates.deliver_by.date() > now.astimezone(dates.deliver_by.tzinfo).date()
                )
            return dates.deliver_latest is not None and dates.deliver_latest > target

        return late

    def promise(self, order: Order, node: Node, now: datetime) -> PromiseDates | None:
        """What a parcel of this order from this node promises from `now` (None without a promising
        module or a lane)."""
        if self.promiser is None:
            return None
        request = self.input_for(order, [])
        level = order.service_level
        if order.delivery_method is DeliveryMethod.ship:
            level = shipped_level(level, self.reference.sourcing_rules())
        dates = self.promiser().parcel(
            node, request.destination, request.postal_code, order.delivery_method, level, now
        )
        return None if isinstance(dates, Refusal) else dates

    # ------------------------------------------------------------ for quotes (oms.domain.promising.Planner)

    def plan_for(
        self,
        request: SourcingInput,
        now: datetime,
        stock: dict[tuple[str, str], int],
        capacity_left: dict[tuple[str, str], int],
    ) -> Plan:
        """A plan from stock and capacity already read (a quote plans every service level from one read)."""
        rules = self.reference.sourcing_rules()
        nodes = self.reference.nodes()
        return plan(
            request,
            nodes,
            stock,
            self.weights.weights({line.sku for line in request.lines}),
            rules,
            eligible=self.eligible(rules, request.channel),
            capacity_left=capacity_left,
            now=now,
            lateness=self._lateness(request, rules, now),
        )

    def capacity_for(self, now: datetime) -> dict[tuple[str, str], int]:
        return self.capacity_left(self.reference.nodes(), now)

    def stock_for(self, skus: list[str]) -> dict[tuple[str, str], int]:
        return {key: position.atp for key, position in self.inventory.positions(skus).items()}

    def eligible_for(self, channel: Any) -> set[str] | None:
        return self.eligible(self.reference.sourcing_rules(), channel)
