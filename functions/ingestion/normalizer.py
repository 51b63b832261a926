"""Inbox stream -> canonical orders.

Each new (or replayed) inbox item is normalized and captured. A payload that
cannot be normalized is quarantined with its reason (retrying cannot fix it);
anything else that fails is reported as a batch item failure so Lambda
retries it, and after the retries the batch's pointer goes to the DLQ.
A marketplace's thin push becomes fetch requests on ChannelFetchQueue (the
channel fetcher asks the channel's API for the order): no channel API is
called here, so a slow marketplace never holds up the inbox stream.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.inbox import entry_from_values
from oms.domain.normalization import normalize_entry
from oms.errors import NormalizationError
from oms.observability import logger, metrics, tracer
from oms.wiring.capture import capture_service
from oms.wiring.channels import channel_sync
from oms.wiring.core import inbox

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _wants_work(record: DynamoDBRecord) -> bool:
    """New items, and items whose replay token an operator changed; not our own quarantine marks."""
    name = record.event_name.name if record.event_name else ""
    if name == "INSERT":  # not one stored quarantined (a fetch the OMS gave up on, kept for a replay)
        return record.dynamodb is None or "quarantine_reason" not in record.dynamodb.new_image
    if name == "MODIFY" and record.dynamodb is not None:
        new = record.dynamodb.new_image.get("replay_token")
        old = record.dynamodb.old_image.get("replay_token")
        return new is not None and new != old
    return False


def handle_record(record: DynamoDBRecord) -> None:
    if not _wants_work(record) or record.dynamodb is None:
        return
    values = record.dynamodb.new_image
    entry = entry_from_values(values)
    now = datetime.now(UTC)
    try:
        normalized = normalize_entry(entry)
    except NormalizationError as exc:
        inbox().quarantine(entry.pk, exc.message, now)
        metrics.add_metric(name="WebhooksQuarantined", unit=MetricUnit.Count, value=1)
        logger.warning("webhook quarantined", extra={"inbox_key": entry.pk, "error": exc.code})
        return
    if normalized.fetch:
        queued = channel_sync().request(normalized.fetch, entry.pk)
        metrics.add_metric(name="ChannelFetchesQueued", unit=MetricUnit.Count, value=len(queued))
        logger.info(
            "orders to fetch",
            extra={"inbox_key": entry.pk, "named": len(normalized.fetch), "queued": len(queued)},
        )
        return
    if normalized.draft is None:
        logger.info("webhook kept, not applied", extra={"inbox_key": entry.pk, "reason": normalized.ignored_reason})
        return
    result = capture_service().capture(normalized.draft, now, likely_new=normalized.likely_new)
    metrics.add_metric(name=f"Orders{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "order captured",
        extra={"order_id": result.order.order_id, "outcome": result.outcome.value, "channel": entry.channel.value},
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
