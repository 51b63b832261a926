"""The whole-document form of the stock rules (oms.models.rule_sets)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from oms.models.common import Channel
from oms.models.inventory import ChannelStockPolicy, StockPolicy
from oms.models.rule_sets import SERVER_SET, whole


class StockPolicyDocument(whole(StockPolicy, "_StockPolicyWhole")):
    """PUT /channels/{channel}/stock-policy: the whole policy (every field of GET's answer; channel, when sent,
    must be the path's; updated_at/updated_by ignored)."""

    version: int = Field(ge=1, strict=True, description="Send the version you read; saving makes the next one")
    channel: Channel | None = Field(default=None, description="The path's channel (may be left out)")
    updated_at: datetime | None = None
    updated_by: str | None = None

    @model_validator(mode="after")
    def _some_node(self) -> StockPolicyDocument:
        if self.nodes is not None and not self.nodes:
            raise ValueError("nodes is empty: the channel could sell from no node (null = every node)")
        return self

    def for_channel(self, channel: Channel) -> ChannelStockPolicy:
        values = self.model_dump(exclude={"channel", *SERVER_SET})
        return ChannelStockPolicy.model_validate({**values, "channel": channel})
