"""Small helpers for DynamoDB's typed JSON."""

from __future__ import annotations

import base64
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

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
