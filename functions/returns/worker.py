"""Returns worker: events from ReturnsQueue.

* Every return and refund event keeps the RMA's row for the lists (written only over an older order
  version, so repeats and late arrivals change nothing).
* ReturnUnitsInspected: the restocks the inspection recorded are applied (each movement once; the API
  applied them already unless it was cut short). ExchangeRequested: the replacement order is captured
  (its id is fixed by the RMA).
* ReturnReceived: returned units per SKU and reason counted for the return rates, once per RMA.
* RefundRequested for a refund through the payment provider: asked with the key <rma>-<attempt>, the
  answer recorded on the RMA (RefundCompleted or RefundFailed follow from the orders stream). A refund
  the provider is still settling is asked again later (1 min growing to 3 h; the same key never pays
  twice); failures are retried by SQS and then parked in ReturnsDLQ (make replay-dlq QUEUE=returns).
* OrderFlagged with `return_requested` (a marketplace buyer's return request) becomes an RMA for every
  delivered unit not yet returned; a refusal by the policy stays flagged for a person.
* OrderUpdated of a marketplace order the channel says is returned: the marketplace refunded its buyer, so
  the RMAs' requested refunds are completed (refunds falling due later are completed when they do).
* A daily schedule (`{"job": "expire"}`) cancels RMAs whose goods have not arrived within the policy's
  `expire_after_days` (one refunded or exchanged on request is kept for a person).
* Deliveries and pickups (FulfillmentStatusChanged) count delivered units per SKU, the denominator of
  the return rate, once per parcel.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import container
from oms.adapters.refund_gateway import RefundPending
from oms.domain.clock import wib_day
from oms.domain.returns import PAYMENTS, ReturnRefused
from oms.models.events import RETURN_EVENTS
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
from oms.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
DELIVERED = ("delivered", "picked_up")
PENDING_BACKOFF_S = (60, 300, 900, 1800, 3600, 10_800)  # a provider still settling: asked again after these


@tracer.capture_method
def handle(record: SQSRecord) -> None:
    event = json.loads(record.body)
    kind = event.get("detail-type")
    domain = event.get("detail") or {}
    detail = domain.get("detail") or {}
    if kind in RETURN_EVENTS:
        _return_event(kind, detail, record)
    elif kind == "FulfillmentStatusChanged":
        _delivered(detail)
    elif kind == "OrderFlagged":
        _channel_request(detail)
    elif kind == "OrderUpdated" and detail.get("channel_state") == "returned":
        settled = container.returns().channel_refunded(detail["order_id"])
        if settled:
            logger.info("refunds settled by the marketplace", extra={"rma_ids": settled})
    else:
        logger.info("event not for returns", extra={"detail_type": kind})


def _return_event(kind: str, detail: dict, record: SQSRecord) -> None:
    rma = Rma.model_validate(detail["rma"])
    logger.append_keys(order_id=detail["order_id"], rma_id=rma.rma_id)
    store = container.returns_store()
    store.put_summary(_summary(detail, rma), int(detail["version"]))
    service = container.returns()
    if kind == "ReturnUnitsInspected":
        restocked = service.restock_inspected(rma)
        if restocked:
            metrics.add_metric(name="ReturnUnitsRestockedByWorker", unit=MetricUnit.Count, value=restocked)
    elif kind == "ExchangeRequested":
        order, current = service.get(rma.rma_id, consistent=True)
        exchange_id = service.create_exchange(order, current)
        logger.info("exchange order captured", extra={"exchange_order_id": exchange_id})
    elif kind == "ReturnReceived" and rma.forwarded_from is None:
        counts: dict[str, dict[str, int]] = {}
        for line in rma.lines:
            if not line.received:
                continue
            adds = counts.setdefault(line.sku, {})
            adds["returned"] = adds.get("returned", 0) + line.received
            adds[f"r_{line.reason.value}"] = adds.get(f"r_{line.reason.value}", 0) + line.received
        when = wib_day(rma.received_at or rma.updated_at)  # rates per day as the retailer's team sees it
        if counts and store.count(f"RETURNED#{rma.rma_id}", when, counts):
            units = sum(adds["returned"] for adds in counts.values())
            metrics.add_metric(name="ReturnUnitsCounted", unit=MetricUnit.Count, value=units)
    elif kind == "RefundRequested" and rma.refund.method is RefundMethod.gateway:
        _refund(detail, rma, record)


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


def _refund(detail: dict, rma: Rma, record: SQSRecord) -> None:
    service = container.returns()
    order, current = service.get(rma.rma_id, consistent=True)
    if current.refund.status is not RefundStatus.requested or current.refund.attempt != rma.refund.attempt:
        logger.info("refund no longer requested", extra={"status": current.refund.status.value})
        return  # settled meanwhile (a repeat of this event, or a later attempt took over)
    try:
        answer = container.refund_gateway().refund(
            rma_id=rma.rma_id,
            attempt=rma.refund.attempt,
            amount=current.refund.amount,
            currency=current.refund.currency,
            payment_reference=order.payment.reference or "",
            order_id=order.order_id,
            order_number=order.order_number,
            channel_order_id=order.channel_order_id,
        )
    except RefundPending:
        receives = int((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        delay = PENDING_BACKOFF_S[min(receives, len(PENDING_BACKOFF_S)) - 1]
        try:
            container.returns_queue().retry_later(record.receipt_handle, delay)
        except Exception:  # the queue's own visibility timeout is the fallback
            logger.exception("could not delay the refund check")
        raise
    outcome = RefundOutcomeKind.completed if answer.completed else RefundOutcomeKind.failed
    report = RefundReport(outcome=outcome, reference=answer.reference, reason=answer.failure)
    service.report_refund(rma.rma_id, report, PAYMENTS, attempt=rma.refund.attempt)
    metrics.add_metric(name=f"Refunds_{outcome.value}", unit=MetricUnit.Count, value=1)
    logger.info("refund answered", extra={"outcome": outcome.value})


def _channel_request(detail: dict) -> None:
    """A marketplace buyer asked for a return: it becomes an RMA (a policy refusal stays flagged for a person)."""
    if "return_requested" not in {flag.get("code") for flag in detail.get("flags") or []}:
        return
    logger.append_keys(order_id=detail["order_id"])
    try:
        accepted = container.returns().from_channel(detail["order_id"])
    except ReturnRefused as exc:
        metrics.add_metric(name="ChannelReturnsRefused", unit=MetricUnit.Count, value=1)
        logger.warning("channel return request refused by the policy", extra={"rules": [r.rule for r in exc.refusals]})
        return
    if accepted is not None and accepted.outcome == "created":
        metrics.add_metric(name="ChannelReturnsAuthorized", unit=MetricUnit.Count, value=len(accepted.rmas))
        logger.info("channel return request authorized", extra={"rma_ids": [rma.rma_id for rma in accepted.rmas]})


def _delivered(detail: dict) -> None:
    parcel = detail.get("fulfillment") or {}
    if parcel.get("status") not in DELIVERED or not parcel.get("status_at"):
        return
    day = wib_day(datetime.fromisoformat(parcel["status_at"]))
    counts: dict[str, dict[str, int]] = {}
    for line in parcel.get("lines") or []:
        adds = counts.setdefault(line["sku"], {"delivered": 0})
        adds["delivered"] += int(line["quantity"])
    if counts and container.returns_store().count(f"DELIVERED#{parcel['fulfillment_id']}", day, counts):
        units = sum(adds["delivered"] for adds in counts.values())
        metrics.add_metric(name="DeliveredUnitsCounted", unit=MetricUnit.Count, value=units)


def expire(now: datetime) -> dict[str, int]:
    """The daily job: RMAs still waiting for their goods past the policy's days are cancelled (their units may
    be returned again); one refunded or exchanged on request is kept for a person."""
    service = container.returns()
    days = container.reference_data().returns_policy().expire_after_days
    cutoff = now - timedelta(days=days)
    store, cursor, cancelled, kept = container.returns_store(), None, 0, 0
    while True:
        page = store.list(
            status=RmaStatus.authorized.value,
            node_id=None,
            reason=None,
            channel=None,
            start=now - timedelta(days=400),
            end=cutoff,
            limit=100,
            cursor=cursor,
        )
        done, left = service.expire([row.rma_id for row in page.items], now)
        cancelled, kept = cancelled + len(done), kept + len(left)
        cursor = page.next_cursor
        if cursor is None:
            break
    metrics.add_metric(name="ReturnsExpired", unit=MetricUnit.Count, value=cancelled)
    logger.info("returns expired", extra={"cancelled": cancelled, "kept": kept})
    return {"cancelled": cancelled, "kept": kept}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if event.get("job") == "expire":
        return expire(datetime.now(UTC))
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
