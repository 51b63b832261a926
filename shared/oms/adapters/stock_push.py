"""What each channel was last told about each SKU, in the stock ledger table
(pk ``PUSH#<sku>``, sk ``STATE``): a claim token and, per channel, the figure
sent (``sent_<channel>``). One item per SKU spreads the writes of a large count
over as many partitions as it has SKUs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from oms.adapters.aws import client, error_code
from oms.adapters.stock import iso
from oms.domain.stock_push import PushState
from oms.models.inventory import ChannelStockUpdate
from oms.models.order import Channel

_BATCH_GET = 100
_CHANNELS = {channel.value: channel for channel in Channel}


def _key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"PUSH#{sku}"}, "sk": {"S": "STATE"}}


class DynamoPushStates:
    def __init__(self, table: str) -> None:
        self.table = table

    def push_states(self, skus: list[str]) -> dict[str, PushState]:
        states: dict[str, PushState] = {}
        keys = [_key(sku) for sku in sorted(set(skus))]
        for start in range(0, len(keys), _BATCH_GET):
            request: dict[str, Any] = {self.table: {"Keys": keys[start : start + _BATCH_GET], "ConsistentRead": True}}
            while request:
                response = client("dynamodb").batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    sku = item["pk"]["S"].removeprefix("PUSH#")
                    sent = {
                        _CHANNELS[name.removeprefix("sent_")]: (int(value["M"]["atp"]["N"]), value["M"]["level"]["S"])
                        for name, value in item.items()
                        if name.startswith("sent_") and name.removeprefix("sent_") in _CHANNELS
                    }
                    states[sku] = PushState(sku=sku, sent=sent)
                request = response.get("UnprocessedKeys") or {}
        return states

    def claim_push(self, sku: str, as_of: datetime) -> str | None:
        # The time first, so tokens order as reads do; the suffix only breaks ties.
        token = f"{iso(as_of)}#{uuid.uuid4().hex[:8]}"
        if self._update(
            sku,
            UpdateExpression="SET claim = :t",
            ConditionExpression="attribute_not_exists(claim) OR claim < :t",
            ExpressionAttributeValues={":t": {"S": token}},
        ):
            return token
        return None

    def record_push(self, sku: str, claim: str, sent: list[ChannelStockUpdate]) -> bool:
        names = {f"#c{n}": f"sent_{update.channel.value}" for n, update in enumerate(sent)}
        values: dict[str, Any] = {":t": {"S": claim}}
        sets = []
        for n, update in enumerate(sent):
            values[f":v{n}"] = {
                "M": {
                    "atp": {"N": str(update.atp)},
                    "level": {"S": update.level.value},
                    "as_of": {"S": iso(update.as_of)},
                }
            }
            sets.append(f"#c{n} = :v{n}")
        return self._update(
            sku,
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="claim = :t",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _update(self, sku: str, **kwargs: Any) -> bool:
        try:
            client("dynamodb").update_item(TableName=self.table, Key=_key(sku), **kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
