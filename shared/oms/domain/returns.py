"""Returns: authorize (policy), route, receive, inspect and dispose, and settle the refund.

The RMAs live on their order (`Order.returns`). Every step reads the order consistently, decides, and
writes it back conditional on its version (a concurrent change makes it read and decide again), so a
return can never take more than was delivered, and the orders stream turns each step into timeline
entries and events (ReturnAuthorized ... RefundRequested ... ReturnClosed) without a second write to
lose.

`ReturnsService` is the one door the API and the returns worker use; it only composes the parts, one
module per reason to change:

    returns_authorization  create, from_channel: the policy's checks, routing, one RMA per place and rule
    returns_receiving      receive, inspect: what arrived, each unit's condition and disposition
    returns_cancellation   cancel, expire: an RMA withdrawn before anything arrived
    returns_refunds        report_refund, retry_refund, channel_refunded: a refund's outcome
    returns_settlement     what is owed and when (refund or exchange due), when an RMA is closed
    returns_exchanges      the exchange's rules and its replacement order
    returns_effects        restock_inspected, create_exchange: what a step sets off outside the order
    returns_steps          get, and the one write of a step (through `update_order`)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from oms.domain.return_policy import SkuFacts
from oms.domain.returns_authorization import ReturnAuthorization
from oms.domain.returns_cancellation import ReturnCancellation
from oms.domain.returns_effects import Inventory, ReturnEffects
from oms.domain.returns_receiving import ReturnReceiving
from oms.domain.returns_refunds import RefundDesk
from oms.domain.returns_steps import RmaSteps
from oms.models.inventory import Node
from oms.models.order import Channel, Order, OrderDraft
from oms.models.returns import (
    RefundReport,
    ReturnAccepted,
    ReturnCreate,
    ReturnInspection,
    ReturnPolicy,
    ReturnReceipt,
    Rma,
)
from oms.ports import OrderRepository


class ReturnsService:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: Inventory,
        policy: Callable[[], ReturnPolicy],
        nodes: Callable[[], dict[str, Node]],
        sku_facts: Callable[[set[str]], dict[str, SkuFacts]],
        capture: Callable[[OrderDraft], str] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.effects = ReturnEffects(orders, inventory, capture, clock)
        self.steps = RmaSteps(orders, self.effects, clock)
        self.authorization = ReturnAuthorization(orders, self.effects, policy, nodes, sku_facts, clock)
        self.receiving = ReturnReceiving(self.steps, nodes, sku_facts)
        self.cancellation = ReturnCancellation(self.steps, policy)
        self.refunds = RefundDesk(self.steps)

    # ------------------------------------------------------------ authorize

    def create(self, request: ReturnCreate, by: str, acting_for: set[Channel] | None = None) -> ReturnAccepted:
        return self.authorization.create(request, by, acting_for)

    def from_channel(self, order_id: str) -> ReturnAccepted | None:
        return self.authorization.from_channel(order_id)

    # ------------------------------------------------------------ read

    def get(self, rma_id: str, consistent: bool = False) -> tuple[Order, Rma]:
        return self.steps.get(rma_id, consistent)

    # ------------------------------------------------------------ receive and inspect

    def receive(self, rma_id: str, receipt: ReturnReceipt, by: str, nodes_acted_for: set[str] | None = None) -> Rma:
        return self.receiving.receive(rma_id, receipt, by, nodes_acted_for)

    def inspect(
        self, rma_id: str, inspection: ReturnInspection, by: str, nodes_acted_for: set[str] | None = None
    ) -> Rma:
        return self.receiving.inspect(rma_id, inspection, by, nodes_acted_for)

    # ------------------------------------------------------------ cancel and expire

    def cancel(self, rma_id: str, reason: str, by: str) -> Rma:
        return self.cancellation.cancel(rma_id, reason, by)

    def expire(self, rma_ids: list[str], now: datetime) -> tuple[list[str], list[str]]:
        return self.cancellation.expire(rma_ids, now)

    # ------------------------------------------------------------ refunds

    def report_refund(self, rma_id: str, report: RefundReport, by: str, attempt: int | None = None) -> Rma:
        return self.refunds.report_refund(rma_id, report, by, attempt)

    def retry_refund(self, rma_id: str, by: str) -> Rma:
        return self.refunds.retry_refund(rma_id, by)

    def channel_refunded(self, order_id: str) -> list[str]:
        return self.refunds.channel_refunded(order_id)

    # ------------------------------------------------------------ what follows a write (the worker)

    def restock_inspected(self, rma: Rma, only: set[str] | None = None) -> int:
        return self.effects.restock_inspected(rma, only)

    def create_exchange(self, order: Order, rma: Rma) -> str | None:
        return self.effects.create_exchange(order, rma)
