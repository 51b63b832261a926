"""The API keys table, read through a short cache (keys are revoked by
disabling them; a revocation takes effect within the cache's minute)."""

from __future__ import annotations

import time

from oms.adapters.aws import client
from oms.adapters.dynamo import from_item, to_item
from oms.models.apikey import ApiKey
from oms.ports import ApiKeyRepository


class DynamoApiKeys(ApiKeyRepository):
    def __init__(self, table: str, cache_seconds: float = 60.0) -> None:
        self.table = table
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def get(self, key_hash: str) -> ApiKey | None:
        cached = self._cache.get(key_hash)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        item = client("dynamodb").get_item(TableName=self.table, Key={"key_hash": {"S": key_hash}}).get("Item")
        record = ApiKey.model_validate(from_item(item)) if item else None
        if record is not None:  # unknown keys are not remembered: a flood of them must not grow memory
            self._cache[key_hash] = (time.monotonic(), record)
        return record

    def put(self, key: ApiKey) -> None:
        client("dynamodb").put_item(TableName=self.table, Item=to_item(key.model_dump(mode="json")))
