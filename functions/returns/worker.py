"""Returns worker: events from ReturnsQueue.

* Return and refund events keep the RMA's row for the lists (written only over an older order
  version, so repeats and late arrivals change nothing) and count returned units per SKU and reason
  (ReturnAuthorized, once per RMA).
* RefundRequested for a refund through the payment provider: asked with the key <rma>-<attempt>,
  the answer recorded on the RMA (RefundCompleted or RefundFailed follow from the orders stream); a
  provider still settling it, or failing, is asked again by SQS (5 receives, then ReturnsDLQ:
  make replay-dlq QUEUE=returns).
* OrderFlagged with `return_requested` (a marketplace buyer's return request) becomes an RMA for every
  delivered unit not yet returned; a refusal by the policy stays flagged for a person.
* Deliveries and pickups (FulfillmentStatusChanged) count delivered units per SKU, the denominator of
  the return rate, once per parcel.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import container
from oms.domain.returns import ReturnRefused
from oms.models.events import RETURN_EVENTS
from oms.models.order import Channel
from oms.models.returns import RefundMethod, RefundOutcomeKind, RefundReport, RefundStatus, Rma, RmaSummary
from oms.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
WIB = ZoneInfo("Asia/Jakarta")  # return rates are counted per day as the retailer's team sees it
DELIVERED = ("delivered", "picked_up")


@tracer.capture_method
def handle(record: SQSRecord) -> None:
    event = json.loads(record.body)
    kind = event.get("detail-type")
    domain = event.get("detail") or {}
    detail = domain.get("detail") or {}
    if kind in RETURN_EVENTS:
        _return_event(kind, detail)
    elif kind == "FulfillmentStatusChanged":
        _delivered(detail)
    elif kind == "OrderFlagged":
        _channel_request(detail)
    else:
        logger.info("event not for returns", extra={"detail_type": kind})


def _return_event(kind: str, detail: dict) -> None:
    rma = Rma.model_validate(detail["rma"])
    logger.append_keys(order_id=detail["order_id"], rma_id=rma.rma_id)
    store = container.returns_store()
    summary = RmaSummary(
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
    store.put_summary(summary, int(detail["version"]))
    if kind == "ReturnAuthorized" and rma.forwarded_from is None:
        counts: dict[str, dict[str, int]] = {}
        for line in rma.lines:
            adds = counts.setdefault(line.sku, {})
            adds["returned"] = adds.get("returned", 0) + line.quantity
            adds[f"r_{line.reason.value}"] = adds.get(f"r_{line.reason.value}", 0) + line.quantity
        if store.count(f"RETURNED#{rma.rma_id}", rma.created_at.astimezone(WIB).date(), counts):
            metrics.add_metric(
                name="ReturnUnitsCounted",
                unit=MetricUnit.Count,
                value=sum(adds["returned"] for adds in counts.values()),
            )
    if kind == "RefundRequested" and rma.refund.method is RefundMethod.gateway:
        _refund(detail, rma)


def _refund(detail: dict, rma: Rma) -> None:
    service = container.returns()
    _order, current = service.get(rma.rma_id, consistent=True)
    if current.refund.status is not RefundStatus.requested or current.refund.attempt != rma.refund.attempt:
        logger.info("refund no longer requested", extra={"status": current.refund.status.value})
        return  # settled meanwhile (a repeat of this event, or ops settled it by hand)
    answer = container.refund_gateway().refund(
        rma_id=rma.rma_id,
        attempt=rma.refund.attempt,
        amount=rma.refund.amount,
        currency=rma.refund.currency,
        order_id=detail["order_id"],
        order_number=detail["order_number"],
        channel_order_id=detail["channel_order_id"],
    )
    outcome = RefundOutcomeKind.completed if answer.completed else RefundOutcomeKind.failed
    report = RefundReport(outcome=outcome, reference=answer.reference, reason=answer.failure)
    service.report_refund(rma.rma_id, report, "payments", attempt=rma.refund.attempt)
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
        logger.warning("channel return request refused by the policy", extra={"rules": [
            r.rule for r in exc.refusals]})  # fmt: skip
        return
    if accepted is not None and accepted.outcome == "created":
        metrics.add_metric(name="ChannelReturnsAuthorized", unit=MetricUnit.Count, value=len(accepted.rmas))
        logger.info("channel return request authorized", extra={"rma_ids": [rma.rma_id for rma in accepted.rmas]})


def _delivered(detail: dict) -> None:
    parcel = detail.get("fulfillment") or {}
    if parcel.get("status") not in DELIVERED or not parcel.get("status_at"):
        return
    day = datetime.fromisoformat(parcel["status_at"]).astimezone(WIB).date()
    counts: dict[str, dict[str, int]] = {}
    for line in parcel.get("lines") or []:
        adds = counts.setdefault(line["sku"], {"delivered": 0})
        adds["delivered"] += int(line["quantity"])
    if counts and container.returns_store().count(f"DELIVERED#{parcel['fulfillment_id']}", day, counts):
        metrics.add_metric(
            name="DeliveredUnitsCounted",
            unit=MetricUnit.Count,
            value=sum(adds["delivered"] for adds in counts.values()),
        )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
