"""Domain events to the EventBridge bus, ten to a call (the API's limit)."""

from __future__ import annotations

import json

from oms.adapters.aws import client
from oms.models.events import EVENT_SOURCE, DomainEvent
from oms.ports import EventPublisher

_BATCH = 10


class EventBridgePublisher(EventPublisher):
    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name

    def publish(self, events: list[DomainEvent]) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(events), _BATCH):
            batch = events[start : start + _BATCH]
            entries = [
                {
                    "EventBusName": self.bus_name,
                    "Source": EVENT_SOURCE,
                    "DetailType": event.event_type.value,
                    "Time": event.occurred_at,
                    "Resources": [f"order/{event.order_id}"],
                    "Detail": json.dumps(event.model_dump(mode="json"), separators=(",", ":")),
                }
                for event in batch
            ]
            response = client("events").put_events(Entries=entries)
            if response.get("FailedEntryCount"):
                failed.extend(
                    event.event_id
                    for event, result in zip(batch, response["Entries"], strict=False)
                    if result.get("ErrorCode")
                )
        return failed
