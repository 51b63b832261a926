"""Domain events to the EventBridge bus, ten to a call (the API's limit)."""

from __future__ import annotations

import json

from oms.adapters.aws import client
from oms.models.events import EVENT_SOURCE, DomainEvent
from oms.ports import EventPublisher

_BATCH = 10
# PutEvents takes 256 KB a call; stay well under it (entries are measured roughly).
_BATCH_BYTES = 200_000


class EventBridgePublisher(EventPublisher):
    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name

    def _entry(self, event: DomainEvent) -> dict:
        return {
            "EventBusName": self.bus_name,
            "Source": EVENT_SOURCE,
            "DetailType": event.event_type.value,
            "Time": event.occurred_at,
            "Resources": [f"order/{event.order_id}"],
            "Detail": json.dumps(event.model_dump(mode="json"), separators=(",", ":")),
        }

    def _batches(self, events: list[DomainEvent]) -> list[list[tuple[DomainEvent, dict]]]:
        batches: list[list[tuple[DomainEvent, dict]]] = [[]]
        size = 0
        for event in events:
            entry = self._entry(event)
            entry_size = len(entry["Detail"]) + 200
            if batches[-1] and (len(batches[-1]) == _BATCH or size + entry_size > _BATCH_BYTES):
                batches.append([])
                size = 0
            batches[-1].append((event, entry))
            size += entry_size
        return [batch for batch in batches if batch]

    def publish(self, events: list[DomainEvent]) -> list[str]:
        failed: list[str] = []
        for batch in self._batches(events):
            response = client("events").put_events(Entries=[entry for _, entry in batch])
            if response.get("FailedEntryCount"):
                failed.extend(
                    event.event_id
                    for (event, _), result in zip(batch, response["Entries"], strict=False)
                    if result.get("ErrorCode")
                )
        return failed
