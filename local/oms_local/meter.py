"""Counts what the embedded AWS is asked, per caller, and the DynamoDB capacity
units those requests would consume in AWS. It runs inside the moto process as
WSGI middleware: `GET /_oms/meter` reads the figures, `DELETE` resets them.

Callers are told apart by the SDK's app id in the User-Agent (workers set
AWS_SDK_UA_APP_ID to their function's logical id); the runtime's own polling
(the pump, standing in for Lambda's event source mappings) is "other".

Capacity follows DynamoDB's published rules: a write costs one unit per KB of
the item (the larger of before and after), plus one write per KB of the
projected item in each GSI the item appears in (two when an index key
changes; none when the projected attributes did not change); a transactional
write costs twice that per item (prepare and commit), a ConditionCheck counts as
a write, and a cancelled transaction is counted as if it ran (failed
conditional writes consume capacity too); a read costs half a unit per 4 KB,
eventually consistent, or one unit strongly consistent; a BatchGetItem rounds
each item up on its own.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
_APP_ID = re.compile(r"\bapp/([\w.-]+)")


def attribute_size(name: str, value: dict[str, Any]) -> int:
    return len(name.encode()) + value_size(value)


def value_size(value: dict[str, Any]) -> int:  # noqa: PLR0911 (one return per DynamoDB type)
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = Decimal(data).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data) * 3 // 4 if isinstance(data, str) else len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode()) for x in data)
    if kind == "NS":
        return sum(value_size({"N": x}) for x in data)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in data)
    if kind == "M":
        return 3 + sum(1 + attribute_size(k, v) for k, v in data.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    return sum(attribute_size(k, v) for k, v in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units if consistent else units / 2)


class RequestMeter:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.wru: Counter[str] = Counter()
        self.rru: Counter[str] = Counter()

    # ---------------------------------------------------------------- WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_oms/meter":
            return self._meter_endpoint(environ, start_response)
        caller_match = _APP_ID.search(environ.get("HTTP_USER_AGENT", ""))
        caller = caller_match.group(1) if caller_match else "other"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        body = b""
        if target.startswith("DynamoDB_"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        action = target.split(".", 1)[-1] if target else self._query_action(environ)
        before = self._before(action, body) if body else None
        result = self.app(environ, start_response)
        with self.lock:
            self.requests[(caller, action)] += 1
            if body:
                try:
                    self._capacity(caller, action, json.loads(body), before)
                except Exception:
                    self.requests[(caller, "meter-error")] += 1
        return result

    @staticmethod
    def _query_action(environ: dict[str, Any]) -> str:
        match = re.search(r"(?:^|&)Action=([A-Za-z]+)", environ.get("QUERY_STRING", ""))
        return match.group(1) if match else environ.get("REQUEST_METHOD", "?") + " " + environ.get("PATH_INFO", "")

    def _meter_endpoint(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.requests.clear()
                self.wru.clear()
                self.rru.clear()
            payload = {
                "requests": [{"caller": c, "action": a, "count": n} for (c, a), n in sorted(self.requests.items())],
                "wru": dict(self.wru),
                "rru": dict(self.rru),
            }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(payload).encode()]

    # ---------------------------------------------------------------- capacity
    @staticmethod
    def _table(name: str) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[ACCOUNT][REGION].get_table(name)

    def _stored(self, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self._table(table_name)
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_key, range_key)
        return item.to_json()["Attributes"] if item is not None else None

    def _key_of(self, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
        table = self._table(table_name)
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {name: item[name] for name in names}

    def _before(self, action: str, body: bytes) -> Any:
        try:
            request = json.loads(body)
            if action == "TransactWriteItems":
                return [self._stored(table, key) for table, key, _ in self._transact_targets(request)]
            if action not in ("PutItem", "UpdateItem", "DeleteItem"):
                return None
            key = request.get("Key") or self._key_of(request["TableName"], request["Item"])
            return self._stored(request["TableName"], key)
        except Exception:
            return None

    def _transact_targets(self, request: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(table, key, the action's body) for each item of a TransactWriteItems request."""
        targets = []
        for entry in request["TransactItems"]:
            ((_kind, spec),) = entry.items()
            key = spec.get("Key") or self._key_of(spec["TableName"], spec["Item"])
            targets.append((spec["TableName"], key, spec))
        return targets

    def _index_writes(self, table_name: str, before: dict | None, after: dict | None) -> int:
        units = 0
        for index in self._table(table_name).global_indexes:
            keys = index.schema_key_attrs
            old_in = before is not None and all(k in before for k in keys)
            new_in = after is not None and all(k in after for k in keys)
            projected = self._projected_size(table_name, index, after if new_in else before)
            if new_in and old_in and any(before[k] != after[k] for k in keys):
                units += 2 * write_units(projected)  # moved: a delete and a put in the index
            elif new_in and old_in:
                if self._projection(table_name, index, before) != self._projection(table_name, index, after):
                    units += write_units(projected)
            elif new_in or old_in:
                units += write_units(projected)
        return units

    def _projected_size(self, table_name: str, index: Any, item: dict | None) -> int:
        return item_size(self._projection(table_name, index, item))

    def _projection(self, table_name: str, index: Any, item: dict | None) -> dict[str, Any]:
        if item is None:
            return {}
        table = self._table(table_name)
        projection = index.projection or {}
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return item
        names = {table.hash_key_attr, table.range_key_attr, *index.schema_key_attrs}
        if kind == "INCLUDE":
            names |= set(projection.get("NonKeyAttributes", []))
        return {k: v for k, v in item.items() if k in names}

    def _capacity(self, caller: str, action: str, request: dict[str, Any], before: dict | None) -> None:
        if action in ("PutItem", "UpdateItem", "DeleteItem"):
            table = request["TableName"]
            key = request.get("Key") or self._key_of(table, request["Item"])
            after = self._stored(table, key)
            size = max(item_size(before), item_size(after), item_size(request.get("Item")))
            self.wru[caller] += write_units(size) + self._index_writes(table, before, after)
        elif action == "TransactWriteItems":
            for (table, key, spec), old in zip(self._transact_targets(request), before or [], strict=False):
                after = self._stored(table, key)
                size = max(item_size(old), item_size(after), item_size(spec.get("Item")))
                self.wru[caller] += 2 * write_units(size) + self._index_writes(table, old, after)
        elif action == "BatchWriteItem":
            for table, writes in request["RequestItems"].items():
                for write in writes:
                    item = write.get("PutRequest", {}).get("Item")
                    self.wru[caller] += write_units(item_size(item))
                    self.wru[caller] += self._index_writes(table, None, item)
        elif action == "GetItem":
            item = self._stored(request["TableName"], request["Key"])
            self.rru[caller] += read_units(item_size(item), bool(request.get("ConsistentRead")))
        elif action == "BatchGetItem":
            for table, spec in request["RequestItems"].items():
                for key in spec["Keys"]:
                    item = self._stored(table, key)
                    self.rru[caller] += read_units(item_size(item), bool(spec.get("ConsistentRead")))
