"""Sourcing worker: order events from SourcingQueue, and the backorder sweep.

* OrderReceived, OrderHoldCleared, OrderReinstated: plan, reserve, record (oms.domain.sourcing).
* OrderCancelled: release every reservation the order holds.
* OrderAddressChanged: parcels not yet handed over are promised again to the new address.
* {"job": "backorders"} (every 5 minutes): backordered orders whose SKUs have stock again
  are sourced once more, oldest first.

Every step is idempotent (the order's stored state decides what is left to do), so a
repeated or late event changes nothing. A failure the next attempt may not repeat
(stock kept moving, a throttled table) fails the message, which SQS redelivers, five
times, then parks in SourcingDLQ (make replay-dlq QUEUE=sourcing). A message that
can never succeed (not an order event) is logged and dropped.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.backorders import BackorderSweep
from oms.domain.sourcing import SourcingResult
from oms.observability import logger, metrics, tracer
from oms.wiring.sourcing import backorder_sweep, sourcing

processor = BatchProcessor(event_type=EventType.SQS)
SOURCE_ON = frozenset({"OrderReceived", "OrderHoldCleared", "OrderReinstated"})
SWEEP_RESERVE_MS = 8_000  # stop looking with this much of the invocation left


def _count(result: SourcingResult, started: float) -> None:
    metrics.add_metric(name="SourcingMs", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000)
    if result.outcome != "unchanged":
        metrics.add_metric(name=f"Orders_{result.outcome}", unit=MetricUnit.Count, value=1)


@tracer.capture_method
def handle(record: SQSRecord) -> None:
    try:
        event = json.loads(record.body)
        detail_type = event["detail-type"]
        order_id = event["detail"]["order_id"]
    except (ValueError, KeyError, TypeError):
        logger.warning("not an order event; dropped", extra={"message_id": record.message_id})
        return
    logger.append_keys(order_id=order_id)
    started = time.perf_counter()
    if detail_type == "OrderCancelled":
        result = sourcing().order_cancelled(order_id)
    elif detail_type == "OrderAddressChanged":
        result = sourcing().address_changed(order_id)
    elif detail_type in SOURCE_ON:
        result = sourcing().source(order_id)
    else:
        logger.info("event not for sourcing", extra={"detail_type": detail_type})
        return
    _count(result, started)
    logger.info("sourced", extra={"outcome": result.outcome, "detail": result.detail, "event": detail_type})


def sweep_backorders(context: LambdaContext, sweep: BackorderSweep) -> dict[str, Any]:
    """One run of the backorder sweep (oms.domain.backorders), keeping clear of the timeout."""
    result = sweep.run(lambda: context.get_remaining_time_in_millis() < SWEEP_RESERVE_MS)
    for order_id, outcome in result.sourced:
        logger.info("backorder sourced", extra={"order_id": order_id, "outcome": outcome})
    metrics.add_metric(name="BackordersSourced", unit=MetricUnit.Count, value=len(result.sourced))
    return {"job": "backorders", "looked_at": result.looked_at, "sourced": len(result.sourced)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext, sweep: BackorderSweep | None = None) -> dict:
    if event.get("job") == "backorders":
        result = sweep_backorders(context, sweep or backorder_sweep())
        logger.info("sweep done", extra=result)
        return result
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
