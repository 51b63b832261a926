"""Rule sets as whole documents: what a PUT must send, the versions kept, and a rollback.

A PUT replaces a rule set, so it sends every part of it: the documents below are the rule set models with
every top-level field required (what GET answers is such a document). A missing part is 422 naming it;
no default silently fills it in. Each document also refuses what would stop the OMS working: routing
without rates, promising without lanes, a channel selling from no node.
"""

from __future__ import annotations

from copy import copy
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model, model_validator
from pydantic_core import PydanticUndefined

from oms.models.common import Channel, Model
from oms.models.inventory import ChannelStockPolicy, StockPolicy
from oms.models.promising import PromisingRules
from oms.models.returns import ReturnPolicy
from oms.models.sourcing import SHIPPED_LEVELS, SourcingRules

SERVER_SET = ("updated_at", "updated_by")  # accepted (a GET's answer is sent back as is) and ignored


def _whole(model: type[BaseModel], name: str) -> Any:
    """model with every field the server does not set required (no default)."""
    fields: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        if field in SERVER_SET:
            continue
        required = copy(info)
        required.default = PydanticUndefined
        required.default_factory = None
        fields[field] = (info.annotation, required)
    return create_model(name, __base__=model, **fields)


class _Document:
    """What the documents share: the rule set they stand for, without the server's fields."""

    base: ClassVar[type[BaseModel]]

    def rule_set(self) -> Any:
        values = self.model_dump(exclude=set(SERVER_SET))  # type: ignore[attr-defined]
        return self.base.model_validate(values)


class SourcingRulesDocument(_Document, _whole(SourcingRules, "_SourcingRulesWhole")):
    """PUT /sourcing/rules: the whole rule set (every field of GET's answer; updated_at/updated_by ignored)."""

    base: ClassVar[type[BaseModel]] = SourcingRules

    @model_validator(mode="after")
    def _routable(self) -> SourcingRulesDocument:
        if not self.rates:
            raise ValueError("rates is empty: no order could be routed (every one would be held 'unroutable')")
        for zone, cells in self.rates.items():
            if not cells:
                raise ValueError(f"rates zone '{zone}' prices no service level")
        priced = {level for cells in self.rates.values() for level in cells}
        unpriced = [level.value for level in SHIPPED_LEVELS if level in self.service_days and level not in priced]
        if unpriced:
            raise ValueError(f"no rate zone prices {', '.join(unpriced)}, which service_days offers")
        return self


class PromisingRulesDocument(_Document, _whole(PromisingRules, "_PromisingRulesWhole")):
    """PUT /promising/rules: the whole rule set (every field of GET's answer; updated_at/updated_by ignored)."""

    base: ClassVar[type[BaseModel]] = PromisingRules

    @model_validator(mode="after")
    def _some_lane(self) -> PromisingRulesDocument:
        if not self.lanes:
            raise ValueError("lanes is empty: nothing could be shipped with a promise")
        return self


class ReturnPolicyDocument(_Document, _whole(ReturnPolicy, "_ReturnPolicyWhole")):
    """PUT /returns/policy: the whole policy (every field of GET's answer; updated_at/updated_by ignored)."""

    base: ClassVar[type[BaseModel]] = ReturnPolicy


class StockPolicyDocument(_whole(StockPolicy, "_StockPolicyWhole")):
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


# ---------------------------------------------------------------- history


class RuleVersion(Model):
    version: int
    updated_at: datetime | None = Field(default=None, description="null: the built-in rules, never saved")
    updated_by: str | None = Field(default=None, description="The API key's actor that saved it")
    restored_from: int | None = Field(default=None, description="A rollback: the version whose content it took")


class RuleHistory(Model):
    kind: str = Field(description="sourcing, promising, returns or stock-policy#<channel>")
    current_version: int
    versions: list[RuleVersion] = Field(
        description="Newest first, at most 100. Version 1 is the built-in rule set (kept from the first save on)"
    )


class Rollback(Model):
    to_version: int = Field(ge=1, strict=True, description="The version whose content becomes the rules again")
    version: int = Field(ge=1, strict=True, description="The version in force as you read it (409 if no longer)")
