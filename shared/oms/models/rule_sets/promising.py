"""The whole-document form of the promising rules (oms.models.rule_sets)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, model_validator

from oms.models.promising import PromisingRules
from oms.models.rule_sets import Document, whole


class PromisingRulesDocument(Document, whole(PromisingRules, "_PromisingRulesWhole")):
    """PUT /promising/rules: the whole rule set (every field of GET's answer; updated_at/updated_by ignored)."""

    base: ClassVar[type[BaseModel]] = PromisingRules

    @model_validator(mode="after")
    def _some_lane(self) -> PromisingRulesDocument:
        if not self.lanes:
            raise ValueError("lanes is empty: nothing could be shipped with a promise")
        return self
