"""Withdrawing an RMA before anything arrived or was paid back, so its units may be returned again: by a
person (`cancel`), or by the daily expiry once the goods are later than the policy allows (`expire`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from oms.domain.returns_steps import RmaSteps
from oms.errors import Conflict, NotFound
from oms.models.order import Order
from oms.models.returns import RefundStatus, ReturnPolicy, Rma, RmaStatus


class ReturnCancellation:
    def __init__(self, steps: RmaSteps, policy: Callable[[], ReturnPolicy]) -> None:
        self.steps = steps
        self.policy = policy

    def cancel(self, rma_id: str, reason: str, by: str) -> Rma:
        """Withdraw an RMA before anything arrived or was paid back: its units may be returned again."""

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            if rma.status is RmaStatus.cancelled:
                return rma
            if rma.forwarded_from is not None:
                raise Conflict(f"RMA {rma_id} carries {rma.forwarded_from}'s resellable units between nodes: "
                               "receive it", details={"rule": "transfer"})  # fmt: skip
            if rma.status is not RmaStatus.authorized:
                raise Conflict(
                    f"RMA {rma_id} is {rma.status.value}: only a return not yet received is cancelled",
                    details={"rule": "received"},
                )
            if rma.refund.status in (RefundStatus.requested, RefundStatus.completed) or rma.exchange_order_id:
                raise Conflict(
                    f"RMA {rma_id} was already refunded or exchanged on request: receive what arrives (0 units "
                    "if nothing) instead",
                    details={"rule": "settled_on_request"},
                )
            refund = rma.refund.model_copy(update={"status": RefundStatus.not_due, "settled_at": now})
            return rma.model_copy(
                update={
                    "status": RmaStatus.cancelled,
                    "cancelled_at": now,
                    "cancel_reason": reason,
                    "refund": refund,
                    "updated_at": now,
                }
            )

        return self.steps.step(rma_id, apply, by, None)

    def expire(self, rma_ids: list[str], now: datetime) -> tuple[list[str], list[str]]:
        """Cancel the listed RMAs (authorized longer than the policy allows): (cancelled, kept). One refunded or
        exchanged on request, or that moved meanwhile, is kept for a person."""
        days = self.policy().expire_after_days
        cancelled, kept = [], []
        for rma_id in rma_ids:
            try:
                _, rma = self.steps.get(rma_id, consistent=True)
                if rma.status is not RmaStatus.authorized or now - rma.created_at < timedelta(days=days):
                    kept.append(rma_id)
                    continue
                self.cancel(rma_id, f"nothing arrived within {days} days", "returns:expiry")
                cancelled.append(rma_id)
            except (Conflict, NotFound):
                kept.append(rma_id)
        return cancelled, kept
