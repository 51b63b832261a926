"""Channel stock push: inventory stream -> what changed for each channel -> its API.

Two sources feed this function:
- the inventory stream (the batching window coalesces changes): the SKUs whose
  ATP moved are pushed to every target (each shop of each connected channel);
- its retry queue: SKUs a target's API refused or could not take (or whose shop
  could not be called: its token gone), for that target only. SQS's visibility
  timeout is the backoff; after maxReceiveCount they land in ChannelStockPushDLQ
  (make replay-dlq QUEUE=stock-push).

A shop being down never holds the stream up, and never holds other shops up.
"""

from __future__ import annotations

import json
import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, model_validator

from oms.adapters.queues import SqsQueue
from oms.domain.stock_push import PushReport, changed_skus, channel_of
from oms.errors import DependencyError
from oms.models.order import Channel
from oms.observability import logger, metrics, tracer
from oms.settings import get_settings
from oms.wiring.push import stock_push

processor = BatchProcessor(event_type=EventType.SQS)


class PushRetry(BaseModel):
    channel: Channel
    # The target's key (the channel's name, or <channel>#<shop id>); absent (messages queued before shops): every
    # shop of the channel.
    target: str | None = Field(default=None, max_length=200, pattern=r"^[a-z]+(#[A-Za-z0-9_\-.]+)?$")
    skus: list[str] = Field(min_length=1, max_length=1000)
    error: str = ""

    @model_validator(mode="after")
    def _target_of_channel(self) -> PushRetry:
        if self.target is not None and channel_of(self.target) != self.channel.value:
            raise ValueError(f"target {self.target} is not a {self.channel.value} shop")
        return self


def _account(report: PushReport) -> None:
    for target, sent in report.sent.items():
        metrics.add_metric(name="StockUpdatesSent", unit=MetricUnit.Count, value=sent)
        logger.info("stock pushed", extra={"target": target, "updates": sent})
    for target, why in report.idle.items():
        logger.info("stock not pushed to a shop", extra={"target": target, "reason": why})
    if report.overtaken:
        metrics.add_metric(name="StockPushesOvertaken", unit=MetricUnit.Count, value=report.overtaken)


def _from_stream(event: dict) -> dict:
    records = DynamoDBStreamEvent(event).records
    skus = changed_skus((r.dynamodb.old_image, r.dynamodb.new_image) for r in records if r.dynamodb is not None)
    report = stock_push().run(skus)
    _account(report)
    queue = SqsQueue(get_settings().stock_push_retry_queue_url)
    for target, failed in report.failed.items():
        metrics.add_metric(name="StockPushFailures", unit=MetricUnit.Count, value=len(failed))
        logger.warning(
            "channel stock API failed; queued for retry",
            extra={"target": target, "skus": len(failed), "error": report.errors[target]},
        )
        ordered = sorted(failed)
        for start in range(0, len(ordered), 1000):
            chunk, channel = ordered[start : start + 1000], Channel(channel_of(target))
            retry = PushRetry(channel=channel, target=target, skus=chunk, error=report.errors[target])
            queue.send(retry.model_dump_json())
    return {"batchItemFailures": []}


@tracer.capture_method
def retry_push(record: SQSRecord) -> None:
    retry = PushRetry.model_validate(json.loads(record.body))
    report = stock_push().run(retry.skus, only=retry.channel, target=retry.target)
    _account(report)
    if report.failed:
        raise DependencyError("; ".join(f"{target}: {why}" for target, why in sorted(report.errors.items())))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # Leave time to queue what could not be sent.
    stock_push().client.finish_by(time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 5)
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(event=event, record_handler=retry_push, processor=processor, context=context)
    return _from_stream(event)
