"""Sourcing: plan an order, reserve what the plan takes, record the allocation, and keep it right
when the order or a node changes afterwards.

SourcingService is the one door the wiring, the handlers and the other services use. The work is
done by its parts, each with one reason to change:

    sourcing_rounds.py     SourcingRounds     one round for an order: plan, reserve, record, settle; the
                                              re-plan loop when stock moves; a dead run's round adopted
    sourcing_reactions.py  SourcingReactions  after sourcing: the order cancelled, a node's rejection or
                                              delay, a new address, a retry once ops cleared a hold
    sourcing_preview.py    SourcingPreview    what-ifs for ops: the dry run and the replay of past decisions
    sourcing_planning.py   SourcingPlanner    the planner's view of the data (stock, capacity, eligible
                                              nodes, lateness) and a parcel's promise; promising's quotes
                                              plan through it too
    sourcing_parcels.py    (functions)        the pure parts: the planner's input from an order, parcels and
                                              reservations from a plan, the order's edits, the stored trace

The order's stream turns what a round records into OrderAllocated, FulfillmentRequested and
OrderBackordered (oms.domain.events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from oms.domain.promising import Promiser
from oms.domain.sourcing_parcels import SOURCING
from oms.domain.sourcing_planning import Reference, SourcingPlanner, Weights
from oms.domain.sourcing_preview import SourcingPreview
from oms.domain.sourcing_reactions import SourcingReactions
from oms.domain.sourcing_rounds import SourcingResult, SourcingRounds
from oms.domain.stock import InventoryService
from oms.models.order import Order
from oms.models.sourcing import Plan, PlanRequest, SourcingRules
from oms.ports import OrderRepository
from oms.ports.stock import CapacityCounter

__all__ = ["SourcingResult", "SourcingService"]


class SourcingService:
    """The parts built over one set of ports; each method is the part's that does it."""

    def __init__(
        self,
        orders: OrderRepository,
        inventory: InventoryService,
        reference: Reference,
        weights: Weights,
        capacity: CapacityCounter,
        clock: Callable[[], datetime],
        promiser: Callable[[], Promiser] | None = None,
    ) -> None:
        self.clock = clock

        def now() -> datetime:  # the parts read the service's clock: one to set (a test sets it)
            return self.clock()

        self.planner = SourcingPlanner(inventory, reference, weights, capacity, promiser)
        self.rounds = SourcingRounds(orders, inventory, self.planner, now)
        self.reactions = SourcingReactions(orders, inventory, self.planner, self.rounds, now)
        self.preview = SourcingPreview(orders, inventory, self.planner, weights, now)

    # ------------------------------------------------------------ sourcing an order

    def source(self, order_id: str) -> SourcingResult:
        return self.rounds.source(order_id)

    def backordered_with_stock(self, order: Order) -> bool:
        return self.rounds.backordered_with_stock(order)

    # ------------------------------------------------------------ after sourcing

    def order_cancelled(self, order_id: str) -> SourcingResult:
        return self.reactions.order_cancelled(order_id)

    def reject(
        self,
        fulfillment_id: str,
        reason: str,
        on_hand: dict[str, int] | None,
        acting_for: set[str] | None = None,
        by: str = SOURCING,
    ) -> SourcingResult:
        return self.reactions.reject(fulfillment_id, reason, on_hand, acting_for, by)

    def delayed(
        self,
        fulfillment_id: str,
        ready_at: datetime,
        reason: str,
        acting_for: set[str] | None = None,
        by: str = SOURCING,
    ) -> SourcingResult:
        return self.reactions.delayed(fulfillment_id, ready_at, reason, acting_for, by)

    def address_changed(self, order_id: str) -> SourcingResult:
        return self.reactions.address_changed(order_id)

    def retry(self, order_id: str, by: str = SOURCING) -> SourcingResult:
        return self.reactions.retry(order_id, by)

    # ------------------------------------------------------------ what-ifs

    def dry_run(self, request: PlanRequest) -> Plan:
        return self.preview.dry_run(request)

    def replay(self, proposed: SourcingRules, order_ids: Iterable[str], examples: int = 20) -> dict[str, Any]:
        return self.preview.replay(proposed, order_ids, examples)
