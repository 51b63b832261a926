"""Listings worker: keeps each shop's listing map (oms.domain.listings) up to date.

Two sources:
- the schedule (every 30 minutes, one rule per channel, input {"channel": ...}): one refresh queued per
  shop of the channel;
- its FIFO queue (one message group per shop: a shop's refreshes never run side by side), body
  {"channel", "shop_id", "full"}: shop_id null = every shop of the channel (queued one by one), "default"
  = the channel's unregistered shop. A pass that runs short of time keeps where it stopped and queues its
  own continuation.

A shop that cannot be read (not connected, its token gone, the channel down) fails its message: retried by
the queue, then dead-lettered (ListingsRefreshDLQ) with the reason.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from oms.domain.listings import require_listed, shop_key
from oms.errors import BadRequest
from oms.models.common import Channel, Model
from oms.models.listings import DEFAULT_SHOP
from oms.observability import logger, metrics, tracer
from oms.wiring.listings import listed_shops, listing_map, listings_api, mapped_shop, refresh_queue

processor = SqsFifoPartialProcessor()  # a shop's messages in order: one failing stops the rest of the batch
_context: dict[str, LambdaContext] = {}


class RefreshMessage(Model):
    channel: Channel
    shop_id: str | None = Field(default=None, max_length=64)
    full: bool = False


def queue_every_shop(channel: Channel, full: bool = False) -> list[str]:
    """One refresh queued per shop of the channel; the shops queued."""
    require_listed(channel)
    queued = []
    bucket = datetime.now(UTC).strftime("%Y%m%d%H%M")
    for shop_id in listed_shops(channel):
        key = shop_key(shop_id)
        refresh_queue().send(channel, key, full=full, dedup=f"every#{channel.value}#{key}#{full}#{bucket}")
        queued.append(key)
    return queued


def _time_left() -> float:
    context = _context.get("now")
    return context.get_remaining_time_in_millis() / 1000 if context is not None else float("inf")


@tracer.capture_method
def refresh_shop(record: SQSRecord) -> None:
    message = RefreshMessage.model_validate(json.loads(record.body))
    if message.shop_id is None:
        queued = queue_every_shop(message.channel, message.full)
        logger.info("listing refreshes queued", extra={"channel": message.channel.value, "shops": len(queued)})
        return
    shop_id = mapped_shop(message.channel, None if message.shop_id == DEFAULT_SHOP else message.shop_id)
    listings_api().finish_within(max(1.0, _time_left() - 10))  # no channel call outlives the invocation
    report = listing_map().refresh(message.channel, shop_id, full=message.full, time_left=_time_left)
    metrics.add_metric(name="ListingRowsWritten", unit=MetricUnit.Count, value=report.rows_written)
    metrics.add_metric(name="ListingExceptions", unit=MetricUnit.Count, value=report.unmapped + report.duplicates)
    logger.info("listing map refreshed", extra=report.model_dump(mode="json"))
    if not report.complete:  # goes on from where it stopped (its progress is kept with the shop's cursor)
        refresh_queue().send(message.channel, message.shop_id, dedup=f"more#{uuid.uuid4().hex}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    _context["now"] = context
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(event=event, record_handler=refresh_shop, processor=processor, context=context)
    try:
        channel = Channel(str(event.get("channel", "")))
    except ValueError:
        raise BadRequest(f"unknown channel {event.get('channel')!r}") from None
    queued = queue_every_shop(channel)
    logger.info("scheduled listing refreshes queued", extra={"channel": channel.value, "shops": len(queued)})
    return {"channel": channel.value, "queued": queued}
