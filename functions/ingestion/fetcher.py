"""Channel fetcher: ChannelFetchQueue -> the order from the channel's API -> the canonical order.

One batch is fetched together (Shopee and TikTok Shop take up to 50 ids a call), then each message
is answered on its own:
* captured: done;
* the document cannot be normalized: the push that asked is quarantined with the reason (retrying
  cannot fix it; `make replay-inbox` after the fix);
* the channel's API does not know the order: retried (an order can show up in the API a moment after
  its push), and after UNKNOWN_ATTEMPTS quarantined with the reason;
* the API answers with an order older than the push that asked (it lags its pushes): what it had is
  stored, and the order is fetched again later, up to UNKNOWN_ATTEMPTS times;
* a resi or label push (Shopee codes 4 and 15, TikTok Shop's package update): besides, the shipping
  worker is sent to ask for the resi or label at once (ShippingQueue, step "nudge");
* the API times out or answers 429/5xx (or the capture fails): retried with a growing delay, then ChannelFetchDLQ
  (`make replay-dlq QUEUE=channel-fetch`).
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.channel_sync import FetchOutcome, FetchRequest
from oms.errors import DependencyError
from oms.observability import logger, metrics, tracer
from oms.wiring.channels import channel_api, channel_fetch_queue, channel_sync, shipping_nudges

# A batch whose every order failed is answered like any other (each message retried on its own delay).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
SHIPPING_PUSHES = frozenset({"tracking", "shipping_document", "package"})  # Shopee 4 and 15, TikTok package update
UNKNOWN_ATTEMPTS = 3  # tries before an order the channel does not know is quarantined (or a lag accepted)
BACKOFF_S = (20, 60, 180, 540, 900)  # the delay before try n+1 (SQS caps a message's visibility at 12 h)


class OrderNotYetKnown(DependencyError):
    """The channel's API does not know the order yet: retried, then quarantined."""


def _attempt(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or 1)


def _retry_later(record: SQSRecord) -> None:
    delay = BACKOFF_S[min(_attempt(record), len(BACKOFF_S)) - 1]
    try:
        channel_fetch_queue().retry_later(record.receipt_handle, delay)
    except Exception:  # the queue's own visibility timeout is the fallback
        logger.exception("could not delay the retry")


def _handle(record: SQSRecord, request: FetchRequest, outcome: FetchOutcome) -> None:
    key = request.order_key
    sync = channel_sync()
    if key in outcome.lagging and _attempt(record) < UNKNOWN_ATTEMPTS:
        # The API answered with an order older than the push: what it had is stored; ask again later.
        _retry_later(record)
        raise OrderNotYetKnown(f"{request.channel.value} API is behind its push for {request.channel_order_id}")
    if key in outcome.captured:
        result = outcome.captured[key]
        metrics.add_metric(name=f"ChannelOrders{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
        logger.info("channel order fetched", extra={"order_id": result.order.order_id, "outcome": result.outcome.value})
        if request.reason in SHIPPING_PUSHES:  # a resi or label is there: asked for now, not at the next poll
            shipping_nudges().send({"step": "nudge", "order_id": result.order.order_id})
        return
    if key in outcome.bad:
        sync.give_up(request, f"{request.channel.value} order {request.channel_order_id}: {outcome.bad[key]}")
        metrics.add_metric(name="ChannelOrdersQuarantined", unit=MetricUnit.Count, value=1)
        logger.warning("channel order quarantined", extra={"channel": request.channel.value, "why": "normalization"})
        return
    if key in outcome.failed:
        _retry_later(record)
        raise DependencyError(outcome.failed[key])
    # Unknown to the channel's API.
    if _attempt(record) < UNKNOWN_ATTEMPTS:
        _retry_later(record)
        raise OrderNotYetKnown(f"{request.channel.value} API does not know order {request.channel_order_id} (yet)")
    sync.give_up(
        request,
        f"the {request.channel.value} API does not know order {request.channel_order_id} "
        f"after {_attempt(record)} attempts",
    )
    metrics.add_metric(name="ChannelOrdersUnknown", unit=MetricUnit.Count, value=1)
    logger.warning("order unknown to the channel; push quarantined", extra={"channel": request.channel.value})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    requests: dict[str, FetchRequest] = {}
    for raw in event.get("Records") or []:
        try:
            requests[raw["messageId"]] = FetchRequest.from_message(raw["body"])
        except (ValueError, KeyError, TypeError):
            logger.error("not a fetch request", extra={"message_id": raw.get("messageId")})
    client = channel_api()
    client.finish_within(context.get_remaining_time_in_millis() / 1000 - 2 if context else None)
    outcome = channel_sync().fetch(list(requests.values()))

    def handle(record: SQSRecord) -> None:
        request = requests.get(record.message_id)
        if request is None:
            raise ValueError("not a fetch request")  # retried, then parked in the DLQ for a person
        _handle(record, request, outcome)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
