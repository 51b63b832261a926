"""Rule sets kept as data (sourcing, promising): saved with the version the caller read, so two
people editing at once cannot overwrite each other unseen."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from oms.errors import Conflict
from oms.models.promising import PromisingRules
from oms.models.returns import ReturnPolicy
from oms.models.sourcing import SourcingRules

RuleSet = TypeVar("RuleSet", SourcingRules, PromisingRules, ReturnPolicy)


class RuleStore(Protocol):
    def stored_rules(self, kind: str, model: type) -> SourcingRules | PromisingRules | ReturnPolicy | None: ...

    def put_rules(
        self, kind: str, rules: SourcingRules | PromisingRules | ReturnPolicy, expected_version: int | None
    ) -> None: ...


def save_rule_set(store: RuleStore, kind: str, body: RuleSet, now: datetime) -> RuleSet:
    """Saves body as the next version if body.version is the current one (1 before any save), else 409."""
    stored = store.stored_rules(kind, type(body))
    current = stored.version if stored else 1
    if body.version != current:
        raise Conflict(f"{kind} rules are at version {current}; read them again and send that version")
    saved = body.model_copy(update={"version": current + 1, "updated_at": now})
    store.put_rules(kind, saved, expected_version=stored.version if stored else None)
    return saved
