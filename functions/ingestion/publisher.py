"""Orders stream -> the orders' timelines and domain events on the EventBridge bus.

The stream is the outbox: an order written is a timeline entry recorded and an
event published, even if the writer died right after the write. Entry keys and
event ids are deterministic, so a retried batch rewrites the same entries and
republishes the same ids (consumers drop the repeats).

Not Powertools' BatchProcessor: it handles one record at a time, and one
PutEvents call per order would be ten times the calls of one per ten events.
The partial-failure answer is the same one Lambda expects from it.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import container
from oms.adapters.orders import lookup_items, order_from_values
from oms.domain.events import events_for_change
from oms.domain.timeline import entries_for_change
from oms.errors import DependencyError
from oms.models.events import DomainEvent
from oms.models.timeline import TimelineEntry
from oms.observability import logger, metrics, tracer


def changes_by_record(event: DynamoDBStreamEvent) -> list[tuple[str, list[TimelineEntry], list[DomainEvent]]]:
    """(sequence number, timeline entries, events) per order change, in stream order."""
    out: list[tuple[str, list[TimelineEntry], list[DomainEvent]]] = []
    for record in event.records:
        stream = record.dynamodb
        if stream is None or not stream.new_image or stream.new_image.get("sk") != "ORDER":
            continue  # a removal, or another kind of item in the table (timeline, tracking, traces)
        old = order_from_values(stream.old_image) if stream.old_image else None
        new = order_from_values(stream.new_image)
        entries, events = entries_for_change(old, new), events_for_change(old, new)
        if entries or events:
            out.append((str(stream.sequence_number), entries, events))
    return out


def lookups(event: DynamoDBStreamEvent) -> list[tuple[str, dict]]:
    """The lookup item changes (oms.adapters.orders.lookup_items: order numbers, node work lists), in stream order."""
    out: list[tuple[str, dict]] = []
    for record in event.records:
        stream = record.dynamodb
        if stream is None or not stream.new_image or stream.new_image.get("sk") != "ORDER":
            continue
        old = order_from_values(stream.old_image) if stream.old_image else None
        puts, deletes = lookup_items(old, order_from_values(stream.new_image))
        out += [("put", item) for item in puts] + [("delete", key) for key in deletes]
    return out


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    stream = DynamoDBStreamEvent(event)
    changes = changes_by_record(stream)
    entries = [entry for _, batch, _ in changes for entry in batch]
    work = lookups(stream)
    try:
        if entries:
            container.orders().put_timeline(entries)
        if work:
            container.orders().put_lookups(work)
    except DependencyError:
        logger.warning("timeline or lookups not written; retrying the batch", extra={"entries": len(entries)})
        first = changes[0][0] if changes else str(next(iter(stream.records)).dynamodb.sequence_number)
        return {"batchItemFailures": [{"itemIdentifier": first}]}
    pending = [(sequence, events) for sequence, _, events in changes if events]
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
