"""Shipping worker, from ShippingQueue: the steps the API queued (arrange in the vendors' batches,
ask for the resi, keep the label, book the own courier; delayed messages bring the resi polling back)
and the order events that refresh the shipping lists.

Each step reads the orders first and acts only on parcels still waiting for it, so a repeat does
nothing twice. A vendor that cannot be reached fails the message: SQS tries it again, five times,
then parks it in ShippingDLQ (make replay-dlq QUEUE=shipping).
"""

from __future__ import annotations

import json
import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.observability import logger, metrics, tracer
from oms.wiring.outbound import channel_client
from oms.wiring.shipping import shipping

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def handle(record: SQSRecord) -> None:
    message = json.loads(record.body)
    if "detail-type" in message:  # an order event: refresh its parcels' rows
        shipping().project(message.get("detail") or {})
        return
    result = shipping().run(message)
    for name, value in result.items():
        metrics.add_metric(name=f"Shipping_{message.get('step')}_{name}", unit=MetricUnit.Count, value=value)
    logger.info("shipping step", extra={"step": message.get("step"), "parcels": len(message.get("parcels") or []),
                                        **result})  # fmt: skip


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # No vendor call may outlive the invocation (a timeout would redeliver the whole batch).
    channel_client().finish_by(time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 5)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
