"""Delivered parcels, counted for promising in the sourcing table.

* pk TRANSIT#<day>, sk LANE#<carrier>#<service>#<origin>#<destination>: parcels per transit days
  (attribute n<days>); sk EXCESS#<region>: parcels per days later than stated (n<days>, may be negative).
* pk ONTIME#<day>, sk <dimension>#<name> (node, carrier, lane): delivered and on time.
* pk DELIVERED#<fulfillment_id>: the parcel was counted (so a repeated event is not).

One transaction per parcel writes the marker and every count, so a parcel counts once or not at
all. Day partitions hold a few hundred items: two weeks load in 14 queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from oms.adapters.aws import client, error_code
from oms.domain.lane_learning import Delivery, LaneLearner
from oms.models.promising import LearningRules

KEEP_DAYS = 120  # on-time rates are looked at over a quarter


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400


class DynamoLaneStats:
    def __init__(self, table: str) -> None:
        self.table = table

    def record(self, delivery: Delivery) -> bool:
        """Count one delivered parcel; False when it was counted before."""
        day = delivery.delivered_on.isoformat()
        purge = {"N": str(_epoch(delivery.delivered_on + timedelta(days=KEEP_DAYS)))}
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {"pk": {"S": f"DELIVERED#{delivery.fulfillment_id}"}, "sk": {"S": "-"}, "purge_at": purge},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if delivery.transit_days is not None and delivery.stated_max is not None:
            lane = "#".join(delivery.lane)
            excess = delivery.transit_days - delivery.stated_max
            items.append(self._add(f"TRANSIT#{day}", f"LANE#{lane}", {f"n{delivery.transit_days}": 1}, purge))
            items.append(self._add(f"TRANSIT#{day}", f"EXCESS#{delivery.lane[3]}", {f"n{excess}": 1}, purge))
        if delivery.on_time is not None:
            for dimension, name in delivery.tallies():
                counts = {"delivered": 1, "on_time": int(delivery.on_time)}
                items.append(self._add(f"ONTIME#{day}", f"{dimension}#{name}", counts, purge))
        try:
            client("dynamodb").transact_write_items(TransactItems=items)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException" and _marker_failed(exc):
                return False
            raise
        return True

    def _add(self, pk: str, sk: str, counts: dict[str, int], purge: dict[str, str]) -> dict[str, Any]:
        names = {f"#a{i}": name for i, name in enumerate(counts)}
        values: dict[str, Any] = {f":v{i}": {"N": str(n)} for i, n in enumerate(counts.values())}
        values[":purge"] = purge
        adds = ", ".join(f"#a{i} :v{i}" for i in range(len(counts)))
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                "UpdateExpression": f"ADD {adds} SET purge_at = if_not_exists(purge_at, :purge)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def learner(self, rules: LearningRules, today: date) -> LaneLearner:
        """A learner holding the deliveries of the last `window_days` days."""
        learner = LaneLearner(rules)
        for day in _days(today, rules.window_days):
            for item in self._query(f"TRANSIT#{day.isoformat()}"):
                kind, _, name = item["sk"]["S"].partition("#")
                histogram = _histogram(item)
                if kind == "LANE":
                    carrier, service, origin, destination = name.split("#")
                    learner.add_transit((carrier, service, origin, destination), day, histogram)
                elif kind == "EXCESS":
                    learner.add_excess(name, day, histogram)
        return learner

    def on_time(self, today: date, days: int) -> list[tuple[str, str, int, int]]:
        """(dimension, name, on time, delivered) per day of the last `days` days."""
        rows = []
        for day in _days(today, days):
            for item in self._query(f"ONTIME#{day.isoformat()}"):
                dimension, _, name = item["sk"]["S"].partition("#")
                rows.append((dimension, name, int(item.get("on_time", {}).get("N", 0)), int(item["delivered"]["N"])))
        return rows

    def _query(self, pk: str) -> Iterator[dict[str, Any]]:
        paginator = client("dynamodb").get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        for page in pages:
            yield from page["Items"]


def _days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=n) for n in range(count)]


def _histogram(item: dict[str, Any]) -> dict[int, int]:
    return {int(name[1:]): int(value["N"]) for name, value in item.items() if name[:1] == "n" and "N" in value}


def _marker_failed(exc: Exception) -> bool:
    reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"
