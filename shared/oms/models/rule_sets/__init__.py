"""Rule sets as whole documents: what a PUT must send, the versions kept, and a rollback.

A PUT replaces a rule set, so it sends every part of it: the documents below are the rule set models with
every top-level field required (what GET answers is such a document). A missing part is 422 naming it;
no default silently fills it in. Each document also refuses what would stop the OMS working: routing
without rates, promising without lanes, a channel selling from no node.

One module per rule set (`sourcing`, `promising`, `returns`, `stock`): a function builds only the
documents of its own rules (each is a model built at import, a cold start's cost).
"""

from __future__ import annotations

from copy import copy
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model
from pydantic_core import PydanticUndefined

from oms.models.common import Model

SERVER_SET = ("updated_at", "updated_by")  # accepted (a GET's answer is sent back as is) and ignored


def whole(model: type[BaseModel], name: str) -> Any:
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


class Document:
    """What the documents share: the rule set they stand for, without the server's fields."""

    base: ClassVar[type[BaseModel]]

    def rule_set(self) -> Any:
        values = self.model_dump(exclude=set(SERVER_SET))  # type: ignore[attr-defined]
        return self.base.model_validate(values)


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
