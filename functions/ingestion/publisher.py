"""Orders stream -> domain events on the EventBridge bus.

The stream is the outbox: an order written is an event published, even if
the writer died right after the write. Event ids are deterministic, so a
retried batch republishes the same ids and consumers drop the repeats.

Not Powertools' BatchProcessor: it handles one record at a time, and one
PutEvents call per order would be ten times the calls of one per ten events.
The partial-failure answer is the same one Lambda expects from it.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import container
from oms.adapters.orders import order_from_values
from oms.domain.events import events_for_change
from oms.models.events import DomainEvent
from oms.observability import logger, metrics, tracer


def events_by_record(event: DynamoDBStreamEvent) -> list[tuple[str, list[DomainEvent]]]:
    """(sequence number, events) per record, in stream order."""
    out: list[tuple[str, list[DomainEvent]]] = []
    for record in event.records:
        stream = record.dynamodb
        if stream is None or not stream.new_image or stream.new_image.get("sk") != "ORDER":
            continue  # a removal, or another kind of item in the table
        old = order_from_values(stream.old_image) if stream.old_image else None
        events = events_for_change(old, order_from_values(stream.new_image))
        if events:
            out.append((str(stream.sequence_number), events))
    return out


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    pending = events_by_record(DynamoDBStreamEvent(event))
    failed_ids = set(container.event_publisher().publish([e for _, events in pending for e in events]))
    published = sum(len(events) for _, events in pending)
    for sequence, events in pending:
        if failed_ids.intersection(e.event_id for e in events):
            # Streams retry from the first failure on; republishing the ones after it is harmless.
            logger.warning("events not published; retrying", extra={"failed": len(failed_ids)})
            metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published - len(failed_ids))
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published)
    return {"batchItemFailures": []}
