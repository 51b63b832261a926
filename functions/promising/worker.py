"""Promising worker: `ParcelDelivered` events from PromisingQueue, counted for lane learning and
on-time rates (oms.domain.lane_learning).

Each parcel counts once (a marker item in the same transaction as its counts), so a repeated or
replayed event changes nothing; order does not matter (counts are sums). An event that fails
validation or a write that fails is retried by SQS, five times, then parked in PromisingDLQ
(make replay-dlq QUEUE=promising).
"""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.models.events import ParcelDeliveredDetail
from oms.observability import logger, metrics, tracer
from oms.wiring.sourcing import delivery_learning

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def handle(record: SQSRecord) -> None:
    event = json.loads(record.body)
    if event.get("detail-type") != "ParcelDelivered":
        logger.info("event not for promising", extra={"detail_type": event.get("detail-type")})
        return
    detail = ParcelDeliveredDetail.model_validate(event["detail"]["detail"])
    counted = delivery_learning().delivered(detail)
    if counted is None:
        logger.info("delivery counted before", extra={"fulfillment_id": detail.fulfillment_id})
        return
    metrics.add_metric(name="ParcelsLearned", unit=MetricUnit.Count, value=1)
    if counted.on_time is False:
        metrics.add_metric(name="ParcelsLate", unit=MetricUnit.Count, value=1)
    lane = "#".join(counted.lane)
    extra = {"fulfillment_id": detail.fulfillment_id, "lane": lane, "transit_days": counted.transit_days}
    logger.info("delivery counted", extra={**extra, "on_time": counted.on_time})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
