"""Small helpers for DynamoDB's typed JSON."""

from __future__ import annotations

import base64
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from oms.adapters.aws import client

BATCH_GET_KEYS = 100  # BatchGetItem's limit per request

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def as_bytes(value: Any) -> bytes:
    """Binary attributes arrive as bytes (client), Binary, or base64 text (stream events)."""
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return base64.b64decode(value)
    raise TypeError(f"not a binary attribute: {type(value).__name__}")


def batch_get(
    table: str, keys: list[dict[str, Any]], *, consistent: bool = False, projection: str | None = None
) -> list[dict[str, Any]]:
    """The items of these keys that exist (raw DynamoDB JSON), 100 keys a request, unprocessed keys retried."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        spec: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_KEYS], "ConsistentRead": consistent}
        if projection:
            spec["ProjectionExpression"] = projection
        request: dict[str, Any] = {table: spec}
        while request:
            response = client("dynamodb").batch_get_item(RequestItems=request)
            found.extend(response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or {}
    return found
