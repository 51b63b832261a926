"""The whole-document form of the sourcing rules (oms.models.rule_sets)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, model_validator

from oms.models.rule_sets import Document, whole
from oms.models.sourcing import SHIPPED_LEVELS, SourcingRules


class SourcingRulesDocument(Document, whole(SourcingRules, "_SourcingRulesWhole")):
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
