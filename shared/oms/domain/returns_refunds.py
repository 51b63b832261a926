"""A refund's outcome, recorded on its RMA: the payment provider's answer (through the returns worker, with
its attempt), a person's report of a refund paid outside the OMS (the marketplace, cash, the web store's
admin, or a declined one paid another way), a retry of a declined one, and a marketplace saying it
refunded its buyer. What is owed, and when, is `returns_settlement`'s.
"""

from __future__ import annotations

import logging
from datetime import datetime

from oms.domain.returns_steps import RmaSteps
from oms.errors import Conflict
from oms.models.order import ChannelState, Order
from oms.models.returns import RefundMethod, RefundOutcomeKind, RefundReport, RefundStatus, Rma

_log = logging.getLogger("oms")  # Powertools' logger (service "oms") when the handler set it up
PAYMENTS = "payments"  # who the provider's answers are recorded as


class RefundDesk:
    def __init__(self, steps: RmaSteps) -> None:
        self.steps = steps

    def report_refund(self, rma_id: str, report: RefundReport, by: str, attempt: int | None = None) -> Rma:
        """The refund's outcome: from the payment provider (through the worker, with its attempt), or from a
        person for refunds settled outside the OMS (the marketplace, cash, the web store's admin)."""

        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            refund = rma.refund
            from_provider = attempt is not None
            declined_settled = refund.status is RefundStatus.failed and report.outcome is RefundOutcomeKind.completed
            if refund.method is RefundMethod.gateway and not from_provider and not declined_settled:
                raise Conflict(
                    f"the refund of {rma_id} is paid by the payment provider; its answer is recorded by itself "
                    "(a declined one is retried with POST /returns/{rma_id}/refund/retry, or paid another way and "
                    "reported completed here)",
                    details={"rule": "provider_refund"},
                )
            wanted = RefundStatus.completed if report.outcome is RefundOutcomeKind.completed else RefundStatus.failed
            if refund.status is wanted and (attempt is None or attempt == refund.attempt):
                return rma  # a repeat
            if from_provider and attempt != refund.attempt:
                if wanted is not RefundStatus.completed or refund.status is RefundStatus.completed:
                    return rma  # an older attempt's failure (or a late answer once paid): nothing to record

                _log.warning("an older refund attempt was paid", extra={"rma_id": rma_id, "attempt": attempt})
            elif refund.status is not RefundStatus.requested and not (
                refund.status is RefundStatus.failed and wanted is RefundStatus.completed
            ):
                if from_provider:
                    return rma  # settled meanwhile: the provider's late answer changes nothing
                raise Conflict(
                    f"the refund of {rma_id} is {refund.status.value}: nothing to settle",
                    details={"rule": "refund_not_requested"},
                )
            update = {
                "status": wanted,
                "settled_at": now,
                "reference": report.reference or refund.reference,
                "failure": report.reason if wanted is RefundStatus.failed else None,
            }
            if not from_provider and refund.method is RefundMethod.gateway:
                update["method"] = RefundMethod.manual  # declined by the provider, then paid another way
            return rma.model_copy(update={"refund": refund.model_copy(update=update), "updated_at": now})

        return self.steps.step(rma_id, apply, by, None)

    def retry_refund(self, rma_id: str, by: str) -> Rma:
        def apply(order: Order, rma: Rma, now: datetime) -> Rma:
            if rma.refund.status is not RefundStatus.failed:
                raise Conflict(
                    f"the refund of {rma_id} is {rma.refund.status.value}; only a failed one is retried",
                    details={"rule": "refund_not_failed"},
                )
            refund = rma.refund.model_copy(
                update={
                    "status": RefundStatus.requested,
                    "requested_at": now,
                    "attempt": rma.refund.attempt + 1,
                    "failure": None,
                    "settled_at": None,
                }
            )
            return rma.model_copy(update={"refund": refund, "updated_at": now})

        return self.steps.step(rma_id, apply, by, None)

    def channel_refunded(self, order_id: str) -> list[str]:
        """The marketplace says the order is returned (it refunded its buyer): its requested refunds are settled."""
        order = self.steps.orders.get(order_id, consistent=True)
        if order is None or order.channel_state is not ChannelState.returned:
            return []
        settled = []
        for rma in order.returns:
            if rma.refund.method is RefundMethod.channel and rma.refund.status is RefundStatus.requested:
                report = RefundReport(outcome=RefundOutcomeKind.completed, reference=f"{order.channel.value}: returned")
                self.report_refund(rma.rma_id, report, f"channel:{order.channel.value}")
                settled.append(rma.rma_id)
        return settled
