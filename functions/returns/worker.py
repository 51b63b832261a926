"""Returns worker: events from ReturnsQueue, and the daily expiry.

Thin: parse the event, hand it to oms.domain.return_followups, record what it led to.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.return_followups import FollowUp, ReturnFollowUps, pending_delay
from oms.models.events import RETURN_EVENTS
from oms.models.returns import Rma
from oms.observability import logger, metrics, tracer
from oms.ports.returns import RefundPending
from oms.wiring.returns import followups, returns_queue

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryQueue(Protocol):
    def retry_later(self, receipt_handle: str, seconds: int) -> None: ...


@dataclass
class Worker:
    """What the worker uses; tests hand in fakes."""

    followups: ReturnFollowUps
    queue: RetryQueue


@tracer.capture_method
def handle(record: SQSRecord, worker: Worker) -> None:
    event = json.loads(record.body)
    kind = event.get("detail-type")
    detail = (event.get("detail") or {}).get("detail") or {}
    if kind in RETURN_EVENTS:
        rma = Rma.model_validate(detail["rma"])
        logger.append_keys(order_id=detail["order_id"], rma_id=rma.rma_id)
        try:
            _record(worker.followups.return_event(kind, detail, rma))
        except RefundPending:
            receives = int((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
            try:
                worker.queue.retry_later(record.receipt_handle, pending_delay(receives))
            except Exception:  # the queue's own visibility timeout is the fallback
                logger.exception("could not delay the refund check")
            raise
    elif kind == "FulfillmentStatusChanged":
        _record(worker.followups.delivered(detail.get("fulfillment") or {}))
    elif kind == "OrderFlagged":
        logger.append_keys(order_id=detail.get("order_id"))
        _record(worker.followups.channel_request(detail))
    elif kind == "OrderUpdated" and detail.get("channel_state") == "returned":
        _record(worker.followups.channel_refunded(detail["order_id"]))
    else:
        logger.info("event not for returns", extra={"detail_type": kind})


def _record(outcome: FollowUp) -> None:
    for name, value in outcome.counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.note:
        (logger.warning if outcome.warning else logger.info)(outcome.note, extra=outcome.facts)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext, worker: Worker | None = None) -> dict:
    worker = worker or Worker(followups(), returns_queue())
    if event.get("job") == "expire":
        expired = worker.followups.expire(datetime.now(UTC))
        metrics.add_metric(name="ReturnsExpired", unit=MetricUnit.Count, value=expired["cancelled"])
        logger.info("returns expired", extra=expired)
        return expired
    return process_partial_response(
        event=event, record_handler=partial(handle, worker=worker), processor=processor, context=context
    )
