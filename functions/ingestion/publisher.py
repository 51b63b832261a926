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

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.orders import count_item, lookup_items, order_from_values
from oms.domain.events import events_for_change
from oms.domain.timeline import entries_for_change
from oms.errors import DependencyError
from oms.models.events import DomainEvent
from oms.models.timeline import TimelineEntry
from oms.observability import logger, metrics, tracer
from oms.ports import EventPublisher, OrderRepository
from oms.wiring.core import event_publisher, orders


@dataclass
class Change:
    """What one stored order change means: its timeline entries, lookup item and count writes, and events."""

    sequence: str
    entries: list[TimelineEntry]
    lookups: list[tuple[str, dict]]
    events: list[DomainEvent]


def changes_by_record(event: DynamoDBStreamEvent) -> list[Change]:
    """Per order change, in stream order (each image read once)."""
    out: list[Change] = []
    for record in event.records:
        stream = record.dynamodb
        if stream is None or not stream.new_image or stream.new_image.get("sk") != "ORDER":
            continue  # a removal, or another kind of item in the table (timeline, lookups, traces)
        old = order_from_values(stream.old_image) if stream.old_image else None
        new = order_from_values(stream.new_image)
        puts, tombstones = lookup_items(old, new)
        writes = [("put", item) for item in [*puts, *tombstones]]
        counted = count_item(old, new)  # the daily counts GET /orders/stats reads
        if counted is not None:
            writes.append(("count", counted))
        change = Change(str(stream.sequence_number), entries_for_change(old, new), writes, events_for_change(old, new))
        if change.entries or change.lookups or change.events:
            out.append(change)
    return out


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict, context: LambdaContext, store: OrderRepository | None = None, bus: EventPublisher | None = None
) -> dict:
    """`store` and `bus` default to the function's own (tests hand in fakes)."""
    store = store or orders()
    changes = changes_by_record(DynamoDBStreamEvent(event))
    entries = [entry for change in changes for entry in change.entries]
    writes = [write for change in changes for write in change.lookups]
    try:
        if entries:
            store.put_timeline(entries)
        if writes:
            store.put_lookups(writes)
    except DependencyError:
        logger.warning("timeline, lookups or counts not written; retrying the batch", extra={"entries": len(entries)})
        return {"batchItemFailures": [{"itemIdentifier": changes[0].sequence}]}
    pending = [(change.sequence, change.events) for change in changes if change.events]
    failed_ids = set((bus or event_publisher()).publish([e for _, events in pending for e in events]))
    published = sum(len(events) for _, events in pending)
    for sequence, events in pending:
        if failed_ids.intersection(e.event_id for e in events):
            # Streams retry from the first failure on; republishing the ones after it is harmless.
            logger.warning("events not published; retrying", extra={"failed": len(failed_ids)})
            metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published - len(failed_ids))
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published)
    return {"batchItemFailures": []}
