"""The catalog table: SKUs (pk SKU#<sku>) and nodes (pk NODE#<id>)."""

from __future__ import annotations

import time
from typing import Any

from oms.adapters.aws import client
from oms.adapters.dynamo import to_item
from oms.ports import CatalogRepository

_BATCH = 100  # BatchGetItem's limit


class DynamoCatalog(CatalogRepository):
    def __init__(self, table: str) -> None:
        self.table = table

    def known_skus(self, skus: set[str]) -> set[str]:
        known: set[str] = set()
        wanted = sorted(skus)
        for start in range(0, len(wanted), _BATCH):
            keys = [{"pk": {"S": f"SKU#{sku}"}} for sku in wanted[start : start + _BATCH]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ProjectionExpression": "pk"}}
            while request:
                response = client("dynamodb").batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    known.add(item["pk"]["S"].removeprefix("SKU#"))
                request = response.get("UnprocessedKeys") or {}
        return known

    def put_sku(self, sku: str, **attributes: Any) -> None:
        client("dynamodb").put_item(TableName=self.table, Item=to_item({"pk": f"SKU#{sku}", "sku": sku, **attributes}))

    def put_node(self, node_id: str, **attributes: Any) -> None:
        client("dynamodb").put_item(
            TableName=self.table, Item=to_item({"pk": f"NODE#{node_id}", "node_id": node_id, **attributes})
        )


class CachedCatalog(CatalogRepository):
    """Remembers the SKUs found known for a while, per container.

    Demand is skewed, so most orders ask only for SKUs seen moments ago; an
    unknown SKU is asked again every time, so a SKU added to the catalog is
    known at once. A SKU removed from the catalog stays known until max_age.
    """

    def __init__(self, inner: CatalogRepository, max_age: float = 300.0) -> None:
        self.inner = inner
        self.max_age = max_age
        self._known_until: dict[str, float] = {}

    def known_skus(self, skus: set[str]) -> set[str]:
        now = time.monotonic()
        cached = {sku for sku in skus if self._known_until.get(sku, 0.0) > now}
        missing = skus - cached
        if not missing:
            return cached
        found = self.inner.known_skus(missing)
        for sku in found:
            self._known_until[sku] = now + self.max_age
        return cached | found
