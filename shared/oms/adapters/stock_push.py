"""What each push target was last told about each SKU, in the stock ledger table
(pk ``PUSH#<sku>``, sk ``STATE``): the claim token (``<read time>#<tie-breaker>#<scope>``)
and ``sent``, a JSON object of target key -> [atp, level, as_of] (the key of a
channel's unregistered channel-level shop is the channel's name, as before shops;
a registered shop's is ``<channel>#<shop id>``). One item per SKU spreads the
writes of a large count over as many partitions as it has SKUs.

Both writes are conditional Puts of the whole item: a claim carries the
``sent`` it read and holds only if that is still what is stored (and no later
claim stands); a record holds only while its claim stands, so nothing can
land between. Puts of one short item are also several times cheaper for the
embedded AWS than updates (it validates update expressions in pure Python)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import batch_get
from oms.adapters.stock import iso
from oms.domain.stock_push import Claim, PushState, covers
from oms.models.inventory import ChannelStockUpdate


def _key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"PUSH#{sku}"}, "sk": {"S": "STATE"}}


class DynamoPushStates:
    def __init__(self, table: str) -> None:
        self.table = table

    def push_states(self, skus: list[str]) -> dict[str, PushState]:
        states: dict[str, PushState] = {}
        for item in batch_get(self.table, [_key(sku) for sku in sorted(set(skus))], consistent=True):
            sku = item["pk"]["S"].removeprefix("PUSH#")
            raw = item["sent"]["S"] if "sent" in item else None
            states[sku] = PushState(sku=sku, sent=_decode(raw), version=raw)
        return states

    def claim_push(self, sku: str, as_of: datetime, seen: PushState | None, scope: str) -> Claim:
        # The time first, so tokens order as reads do; then a tie-breaker; then the scope.
        token = f"{iso(as_of)}#{uuid.uuid4().hex[:8]}#{scope}"
        values: dict[str, Any] = {":t": {"S": token}}
        if seen is None:
            condition = "attribute_not_exists(pk)"
        elif seen.version is None:
            condition = "(attribute_not_exists(claim) OR claim < :t) AND attribute_not_exists(sent)"
        else:
            condition = "(attribute_not_exists(claim) OR claim < :t) AND sent = :seen"
            values[":seen"] = {"S": seen.version}
        try:
            self._put(sku, token, seen.version if seen else None, condition, values)
        except _Refused as refused:
            stored = (refused.item or {}).get("claim", {}).get("S")
            later = stored is not None and stored > token
            wider = stored is not None and covers(stored.split("#", 2)[-1], scope)
            return Claim(token=None, superseded=later and wider)
        return Claim(token=token)

    def record_push(self, sku: str, claim: str, sent: Mapping[str, ChannelStockUpdate], seen: PushState | None) -> bool:
        merged = json.loads(seen.version) if seen and seen.version else {}
        for key, update in sent.items():
            merged[key] = [update.atp, update.level.value, iso(update.as_of)]
        try:
            self._put(sku, claim, json.dumps(merged, sort_keys=True), "claim = :t", {":t": {"S": claim}})
        except _Refused:
            return False
        return True

    def _put(self, sku: str, claim: str, sent: str | None, condition: str, values: dict[str, Any]) -> None:
        item = {**_key(sku), "claim": {"S": claim}}
        if sent is not None:
            item["sent"] = {"S": sent}
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _Refused(getattr(exc, "response", {}).get("Item")) from exc
            raise


class _Refused(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


def _decode(raw: str | None) -> dict[str, tuple[int, str]]:
    told = json.loads(raw) if raw else {}
    return {key: (int(atp), str(level)) for key, (atp, level, _at) in told.items()}
