"""Channel write-back: FulfillmentShipped and OrderCancelled from ChannelWriteBackQueue, told to the
order's sales channel through the channel-client port (oms.domain.write_back decides what).

A call the channel refuses or cannot take (5xx, 429, unreachable) fails the message: SQS retries it,
five times, then parks it in ChannelWriteBackDLQ (make replay-dlq QUEUE=write-back). The event id is
sent as the idempotency key, so a repeat is harmless.
"""

from __future__ import annotations

import json
import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.write_back import write_back_for
from oms.observability import logger, metrics, tracer
from oms.wiring.outbound import channel_client

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def handle(record: SQSRecord) -> None:
    event = json.loads(record.body)
    call = write_back_for(str(event.get("detail-type")), event.get("detail") or {})
    if call is None:
        logger.info("nothing to tell the channel", extra={"detail_type": event.get("detail-type")})
        return
    channel_client().write_back(call)
    metrics.add_metric(name=f"WriteBack_{call.kind}", unit=MetricUnit.Count, value=1)
    logger.info("channel told", extra={"channel": call.channel.value, "kind": call.kind})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # No channel call may outlive the invocation (a timeout would redeliver the whole batch).
    channel_client().finish_by(time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 5)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
