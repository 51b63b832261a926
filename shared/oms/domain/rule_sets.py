"""Rule sets kept as data (sourcing, promising, the return policy, each channel's stock policy): saved whole,
with the version the caller read, so two people editing at once cannot overwrite each other unseen; every
saved version kept (who saved it, when) and any of them restorable as a new version."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

from pydantic import BaseModel

from oms.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable
from oms.models.inventory import ChannelStockPolicy, Node
from oms.models.order import Channel
from oms.models.promising import PromisingRules
from oms.models.returns import ReturnPolicy
from oms.models.rule_sets import RuleHistory, RuleVersion
from oms.models.sourcing import SourcingRules

RuleSet = TypeVar("RuleSet", SourcingRules, PromisingRules, ReturnPolicy, ChannelStockPolicy)
HISTORY_SHOWN = 100
# A rule set is one DynamoDB item (400 KB at most), and so is each version kept: room for the key and names.
MAX_RULE_SET_BYTES = 350_000


def stock_policy_kind(channel: Channel) -> str:
    return f"stock-policy#{channel.value}"


class RuleStore(Protocol):
    def stored_rules(self, kind: str, model: type[RuleSet]) -> RuleSet | None: ...

    def put_rules(
        self,
        kind: str,
        rules: BaseModel,
        expected_version: int | None,
        *,
        previous: BaseModel | None = None,
        restored_from: int | None = None,
    ) -> None:
        """Saves rules as the kind's current set if its stored version is still expected_version (None:
        nothing stored yet), else StaleWrite; keeps rules (and previous, the set it replaces) in the history."""
        ...

    def rule_version(self, kind: str, version: int, model: type[RuleSet]) -> RuleSet | None: ...

    def rule_versions(self, kind: str, versions: list[int]) -> list[RuleVersion]: ...


def require_a_working_node(lists: Iterable[tuple[str, list[str] | None]], nodes: Mapping[str, Node]) -> None:
    """A list whose nodes are all disabled stops a channel as surely as an empty one: 422 naming it.
    (None is every node; unknown nodes are the caller's 404.)"""
    idle = [where for where, listed in lists if listed and not any(nodes[n].enabled for n in listed if n in nodes)]
    if idle:
        raise Unprocessable(f"{', '.join(idle)}: every node listed is disabled, so no order could be sourced "
                            "from it; list an enabled node (or null for every node)")  # fmt: skip


def save_rule_set(
    store: RuleStore,
    kind: str,
    body: RuleSet,
    now: datetime,
    actor: str | None = None,
    default: Callable[[], RuleSet] | None = None,
    restored_from: int | None = None,
) -> RuleSet:
    """Saves body as the next version if body.version is the current one (1 before any save), else 409.
    `default` is the set in force before any save: kept as version 1 in the history."""
    stored = store.stored_rules(kind, type(body))
    current = stored.version if stored else 1
    if body.version != current:
        raise Conflict(f"the {kind} rules are at version {current}; read them again and send that version")
    saved = body.model_copy(update={"version": current + 1, "updated_at": now, "updated_by": actor})
    size = len(saved.model_dump_json())
    if size > MAX_RULE_SET_BYTES:
        raise PayloadTooLarge(f"the {kind} rules take {size} bytes; a rule set is kept whole in one item of at "
                              f"most {MAX_RULE_SET_BYTES} bytes (fewer rules, or SKU lists as categories)")  # fmt: skip
    previous = stored if stored is not None else (default() if default is not None else None)
    store.put_rules(
        kind,
        saved,
        expected_version=stored.version if stored else None,
        previous=previous,
        restored_from=restored_from,
    )
    return saved


def in_force(store: RuleStore, kind: str, model: type[RuleSet], default: Callable[[], RuleSet]) -> RuleSet:
    """The rule set as stored now (read through any cache: its version is the one a save must send)."""
    stored = store.stored_rules(kind, model)
    return stored if stored is not None else default()


def history(store: RuleStore, kind: str, model: type[RuleSet]) -> RuleHistory:
    """The versions kept, newest first (at most HISTORY_SHOWN)."""
    stored = store.stored_rules(kind, model)
    current = stored.version if stored else 1
    wanted = list(range(current, max(0, current - HISTORY_SHOWN), -1)) if stored else []
    found = sorted(store.rule_versions(kind, wanted), key=lambda kept: kept.version, reverse=True)
    return RuleHistory(kind=kind, current_version=current, versions=found)


def kept_version(store: RuleStore, kind: str, version: int, model: type[RuleSet]) -> RuleSet:
    """A kept version's content, or 404."""
    kept = store.rule_version(kind, version, model)
    if kept is None:
        raise NotFound(f"version {version} of the {kind} rules is not kept (GET the history for those that are)")
    return kept
