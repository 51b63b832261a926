"""What follows a return event, apart from the request that caused it (the returns worker's domain):
the RMA's list row, restocks an inspection recorded, the exchange order, return-rate counts, the
provider's refund, a marketplace buyer's return request, and the daily expiry of RMAs whose goods
never came. Every step may run twice or late: each is keyed so a repeat changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from oms.domain.clock import wib_day
from oms.domain.returns import ReturnsService
from oms.domain.returns_authorization import ReturnRefused
from oms.domain.returns_refunds import PAYMENTS
from oms.models.order import Channel
from oms.models.returns import (
    RefundMethod,
    RefundOutcomeKind,
    RefundReport,
    RefundStatus,
    Rma,
    RmaStatus,
    RmaSummary,
)
from oms.ports.returns import RefundGateway, ReturnsStore

DELIVERED = ("delivered", "picked_up")
PENDING_BACKOFF_S = (60, 300, 900, 1800, 3600, 10_800)  # a provider still settling: asked again after these


def pending_delay(receive_count: int) -> int:
    """Seconds before asking the provider again about a refund it is settling, by delivery attempt."""
    return PENDING_BACKOFF_S[min(max(receive_count, 1), len(PENDING_BACKOFF_S)) - 1]


@dataclass
class FollowUp:
    """What one event led to: counts for the metrics, and facts for the log."""

    counts: dict[str, int] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)
    note: str | None = None
    warning: bool = False  # something a person should look at


class ReturnFollowUps:
    def __init__(
        self,
        returns: ReturnsService,
        store: ReturnsStore,
        gateway: Callable[[], RefundGateway],
        expire_after_days: Callable[[], int],
    ) -> None:
        self.returns = returns
        self.store = store
        self.gateway = gateway  # built on first refund: most events never pay anything
        self.expire_after_days = expire_after_days

    def return_event(self, kind: str, detail: dict, rma: Rma) -> FollowUp:
        """ReturnAuthorized, ReturnReceived, ReturnUnitsInspected, ExchangeRequested, RefundRequested, ..."""
        self.store.put_summary(_summary(detail, rma), int(detail["version"]))
        if kind == "ReturnUnitsInspected":
            restocked = self.returns.restock_inspected(rma)
            return FollowUp({"ReturnUnitsRestockedByWorker": restocked} if restocked else {})
        if kind == "ExchangeRequested":
            order, current = self.returns.get(rma.rma_id, consistent=True)
            exchange_id = self.returns.create_exchange(order, current)
            return FollowUp(facts={"exchange_order_id": exchange_id}, note="exchange order captured")
        if kind == "ReturnReceived" and rma.forwarded_from is None:
            return self._count_returned(rma)
        if kind == "RefundRequested" and rma.refund.method is RefundMethod.gateway:
            return self._refund(rma)
        return FollowUp()

    def _count_returned(self, rma: Rma) -> FollowUp:
        counts: dict[str, dict[str, int]] = {}
        for line in rma.lines:
            if not line.received:
                continue
            adds = counts.setdefault(line.sku, {})
            adds["returned"] = adds.get("returned", 0) + line.received
            adds[f"r_{line.reason.value}"] = adds.get(f"r_{line.reason.value}", 0) + line.received
        when = wib_day(rma.received_at or rma.updated_at)  # rates per day as the retailer's team sees it
        if counts and self.store.count(f"RETURNED#{rma.rma_id}", when, counts):
            return FollowUp({"ReturnUnitsCounted": sum(adds["returned"] for adds in counts.values())})
        return FollowUp()

    def _refund(self, rma: Rma) -> FollowUp:
        """Ask the provider (key <rma>-<attempt>) and record its answer. RefundPending propagates: the
        caller asks again later (pending_delay)."""
        order, current = self.returns.get(rma.rma_id, consistent=True)
        if current.refund.status is not RefundStatus.requested or current.refund.attempt != rma.refund.attempt:
            # Settled meanwhile (a repeat of this event, or a later attempt took over).
            return FollowUp(facts={"status": current.refund.status.value}, note="refund no longer requested")
        answer = self.gateway().refund(
            rma_id=rma.rma_id,
            attempt=rma.refund.attempt,
            amount=current.refund.amount,
            currency=current.refund.currency,
            payment_reference=order.payment.reference or "",
            order_id=order.order_id,
            order_number=order.order_number,
            channel_order_id=order.channel_order_id,
        )
        outcome = RefundOutcomeKind.completed if answer.completed else RefundOutcomeKind.failed
        report = RefundReport(outcome=outcome, reference=answer.reference, reason=answer.failure)
        self.returns.report_refund(rma.rma_id, report, PAYMENTS, attempt=rma.refund.attempt)
        return FollowUp({f"Refunds_{outcome.value}": 1}, {"outcome": outcome.value}, "refund answered")

    def channel_request(self, detail: dict) -> FollowUp:
        """A marketplace buyer asked for a return: it becomes an RMA (a policy refusal stays flagged for a person)."""
        if "return_requested" not in {flag.get("code") for flag in detail.get("flags") or []}:
            return FollowUp()
        try:
            accepted = self.returns.from_channel(detail["order_id"])
        except ReturnRefused as exc:
            rules = [r.rule for r in exc.refusals]
            return FollowUp({"ChannelReturnsRefused": 1}, {"rules": rules}, "channel return request refused", True)
        if accepted is not None and accepted.outcome == "created":
            rma_ids = [rma.rma_id for rma in accepted.rmas]
            return FollowUp(
                {"ChannelReturnsAuthorized": len(rma_ids)}, {"rma_ids": rma_ids}, "channel return authorized"
            )
        return FollowUp()

    def channel_refunded(self, order_id: str) -> FollowUp:
        """The marketplace says the order is returned: it refunded its buyer, so requested refunds are complete."""
        settled = self.returns.channel_refunded(order_id)
        return FollowUp(facts={"rma_ids": settled}, note="refunds settled by the marketplace" if settled else None)

    def delivered(self, parcel: dict) -> FollowUp:
        """Delivered units per SKU and WIB day, the denominator of the return rate, once per parcel."""
        if parcel.get("status") not in DELIVERED or not parcel.get("status_at"):
            return FollowUp()
        day = wib_day(datetime.fromisoformat(parcel["status_at"]))
        counts: dict[str, dict[str, int]] = {}
        for line in parcel.get("lines") or []:
            adds = counts.setdefault(line["sku"], {"delivered": 0})
            adds["delivered"] += int(line["quantity"])
        if counts and self.store.count(f"DELIVERED#{parcel['fulfillment_id']}", day, counts):
            return FollowUp({"DeliveredUnitsCounted": sum(adds["delivered"] for adds in counts.values())})
        return FollowUp()

    def expire(self, now: datetime) -> dict[str, int]:
        """RMAs still waiting for their goods past the policy's days are cancelled (their units may be
        returned again); one refunded or exchanged on request is kept for a person."""
        cutoff = now - timedelta(days=self.expire_after_days())
        cursor, cancelled, kept = None, 0, 0
        while True:
            page = self.store.list(
                status=RmaStatus.authorized.value, node_id=None, reason=None, channel=None,
                start=now - timedelta(days=400), end=cutoff, limit=100, cursor=cursor,
            )  # fmt: skip
            done, left = self.returns.expire([row.rma_id for row in page.items], now)
            cancelled, kept = cancelled + len(done), kept + len(left)
            cursor = page.next_cursor
            if cursor is None:
                return {"cancelled": cancelled, "kept": kept}


def _summary(detail: dict, rma: Rma) -> RmaSummary:
    return RmaSummary(
        rma_id=rma.rma_id,
        order_id=detail["order_id"],
        order_number=detail["order_number"],
        channel=Channel(detail["channel"]),
        status=rma.status,
        node_id=rma.destination.node_id,
        supplier=rma.destination.supplier,
        reasons=sorted({line.reason for line in rma.lines}),
        skus=sorted({line.sku for line in rma.lines}),
        units=sum(line.quantity for line in rma.lines),
        refund_status=rma.refund.status,
        refund_amount=rma.refund.amount,
        created_at=rma.created_at,
        updated_at=rma.updated_at,
    )
