"""The whole-document form of the returns rules (oms.models.rule_sets)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from oms.models.returns import ReturnPolicy
from oms.models.rule_sets import Document, whole


class ReturnPolicyDocument(Document, whole(ReturnPolicy, "_ReturnPolicyWhole")):
    """PUT /returns/policy: the whole policy (every field of GET's answer; updated_at/updated_by ignored)."""

    base: ClassVar[type[BaseModel]] = ReturnPolicy
