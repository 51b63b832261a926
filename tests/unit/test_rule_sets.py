"""Rule sets are whole or refused; saves are versioned and kept; times of day say what they parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest
from pydantic import BaseModel, ValidationError

from oms.domain.promising_defaults import default_promising_rules
from oms.domain.return_policy import default_policy
from oms.domain.rule_sets import history, kept_version, save_rule_set
from oms.domain.sourcing_defaults import default_rules
from oms.errors import Conflict, NotFound
from oms.models.inventory import ChannelStockPolicy
from oms.models.order import Channel
from oms.models.promising import NodeCalendar, OpeningHours, PromisingRules
from oms.models.returns import ReturnPolicy
from oms.models.rule_sets import Rollback, RuleVersion
from oms.models.rule_sets.promising import PromisingRulesDocument
from oms.models.rule_sets.returns import ReturnPolicyDocument
from oms.models.rule_sets.sourcing import SourcingRulesDocument
from oms.models.rule_sets.stock import StockPolicyDocument
from oms.models.sourcing import SourcingRules

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _missing(document: type[BaseModel], body: dict) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        document.model_validate(body)
    return {".".join(map(str, error["loc"])) for error in caught.value.errors() if error["type"] == "missing"}


def _refusal(document: type[BaseModel], body: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        document.model_validate(body)
    return str(caught.value)


# ---------------------------------------------------------------- whole documents


def test_an_empty_or_version_only_body_names_every_missing_part() -> None:
    assert _missing(SourcingRulesDocument, {"version": 1}) == {
        "currency", "per_shipment_cost", "late_penalty", "metro_km", "max_store_distance_km", "service_days",
        "default_channel", "channels", "rates", "same_day", "instant",
    }  # fmt: skip
    assert "version" in _missing(SourcingRulesDocument, {})
    assert _missing(PromisingRulesDocument, {"version": 3}) == {
        "default_cutoffs", "dc_hours", "store_hours", "lanes", "max_pickup_km", "same_day", "instant",
        "extra_holidays", "carrier_delays", "learning",
    }  # fmt: skip
    assert _missing(ReturnPolicyDocument, {}) == {"version", "expire_after_days", "rules"}
    assert _missing(StockPolicyDocument, {}) == {"version", "nodes", "allocation", "value", "low_threshold", "push"}


@pytest.mark.parametrize(
    ("document", "rules"),
    [
        (SourcingRulesDocument, default_rules()),
        (PromisingRulesDocument, default_promising_rules()),
        (ReturnPolicyDocument, default_policy()),
    ],
)
def test_what_get_answers_is_a_whole_document(document: type, rules: BaseModel) -> None:
    answered = json.loads(rules.model_copy(update={"updated_at": NOW, "updated_by": "ops:x"}).model_dump_json())
    parsed = document.model_validate(answered)
    assert parsed.rule_set() == rules  # the server's fields are ignored
    assert type(parsed.rule_set()) is type(rules)
    assert type(rules).model_validate(answered).updated_by == "ops:x"  # as read back (and by `sourcing replay`)


def test_a_stock_policy_document_takes_what_get_answers_and_names_its_channel() -> None:
    answered = ChannelStockPolicy(channel=Channel.shopee, nodes=["DC-A"], allocation="buffer", value=3)
    parsed = StockPolicyDocument.model_validate(json.loads(answered.model_dump_json()))
    assert parsed.channel is Channel.shopee
    assert parsed.for_channel(Channel.shopee) == answered
    every_node = {"version": 1, "nodes": None, "allocation": "none", "value": 0, "low_threshold": 5, "push": "level"}
    assert StockPolicyDocument.model_validate(every_node).for_channel(Channel.web).nodes is None


def test_routing_without_rates_is_refused() -> None:
    whole = default_rules().model_dump(mode="json")
    assert "rates is empty" in _refusal(SourcingRulesDocument, {**whole, "rates": {}})
    assert "rates zone 'city' prices no service level" in _refusal(
        SourcingRulesDocument, {**whole, "rates": {**whole["rates"], "city": {}}}
    )
    regular_only = {zone: {"regular": cells["regular"]} for zone, cells in whole["rates"].items()}
    assert "no rate zone prices next_day, economy" in _refusal(SourcingRulesDocument, {**whole, "rates": regular_only})
    offered = {**whole, "rates": regular_only, "service_days": {"regular": 4}}
    assert SourcingRulesDocument.model_validate(offered).rule_set().service_days == {"regular": 4}
    # The model itself still reads what was stored before (and dry runs may try anything).
    assert SourcingRules.model_validate({**whole, "rates": {}}).rates == {}


def test_promising_without_lanes_and_a_channel_without_nodes_are_refused() -> None:
    whole = default_promising_rules().model_dump(mode="json")
    assert "lanes is empty" in _refusal(PromisingRulesDocument, {**whole, "lanes": []})
    policy = {"version": 1, "nodes": [], "allocation": "none", "value": 0, "low_threshold": 5, "push": "quantity"}
    assert "nodes is empty" in _refusal(StockPolicyDocument, policy)
    assert "at least 1 item" in _refusal(ReturnPolicyDocument, {"version": 1, "expire_after_days": 30, "rules": []})


# ---------------------------------------------------------------- times of day


def test_times_of_day_parse_as_before_and_refuse_an_offset() -> None:
    hours = OpeningHours.model_validate({"open": "08:00", "close": "17:30:00"})
    assert (hours.open, hours.close) == (time(8), time(17, 30))
    calendar = NodeCalendar.model_validate({"hours": {"mon": {"open": "08:00", "close": "17:00"}}, "cutoffs": {}})
    assert calendar.hours["mon"].close == time(17)
    with pytest.raises(ValidationError, match="without an offset"):
        OpeningHours.model_validate({"open": "08:00+07:00", "close": "17:00"})
    rules = PromisingRules.model_validate({"default_cutoffs": {"regular": "14:00"}})
    assert rules.default_cutoffs["regular"] == time(14)
    assert json.loads(rules.model_dump_json())["default_cutoffs"]["regular"] == "14:00:00"


def test_the_schema_describes_times_of_day_as_hh_mm_strings() -> None:
    schema = json.dumps(PromisingRulesDocument.model_json_schema())
    assert '"format": "time"' not in schema
    hours = PromisingRules.model_json_schema()["$defs"]["OpeningHours"]["properties"]["open"]
    assert hours["type"] == "string" and hours["pattern"].startswith("^([01][0-9]|2[0-3]):[0-5][0-9]")


# ---------------------------------------------------------------- saves, history, rollback


class MemoryStore:
    def __init__(self) -> None:
        self.current: dict[str, BaseModel] = {}
        self.kept: dict[tuple[str, int], tuple[BaseModel, int | None]] = {}

    def stored_rules(self, kind, model):
        return self.current.get(kind)

    def put_rules(self, kind, rules, expected_version, *, previous=None, restored_from=None):
        stored = self.current.get(kind)
        assert (stored.version if stored else None) == expected_version
        self.current[kind] = rules
        self.kept[(kind, rules.version)] = (rules, restored_from)
        if previous is not None:
            self.kept[(kind, previous.version)] = (previous, self.kept.get((kind, previous.version), (None, None))[1])

    def rule_version(self, kind, version, model):
        kept = self.kept.get((kind, version))
        return kept[0] if kept else None

    def rule_versions(self, kind, versions):
        return [
            RuleVersion(version=v, updated_at=rules.updated_at, updated_by=rules.updated_by, restored_from=restored)
            for (k, v), (rules, restored) in self.kept.items()
            if k == kind and v in versions
        ]


def test_saves_are_versioned_keep_every_version_and_say_who() -> None:
    store = MemoryStore()
    assert history(store, "returns", ReturnPolicy).versions == []
    first = default_policy().model_copy(update={"expire_after_days": 20})
    saved = save_rule_set(store, "returns", first, NOW, "ops:ana", default_policy)
    assert (saved.version, saved.updated_at, saved.updated_by) == (2, NOW, "ops:ana")
    with pytest.raises(Conflict, match="version 2"):
        save_rule_set(store, "returns", first, NOW, "ops:budi", default_policy)  # version 1 is no longer current
    second = saved.model_copy(update={"expire_after_days": 10})
    save_rule_set(store, "returns", second, NOW, "ops:budi", default_policy)

    kept = history(store, "returns", ReturnPolicy)
    assert kept.current_version == 3
    assert [(v.version, v.updated_by) for v in kept.versions] == [(3, "ops:budi"), (2, "ops:ana"), (1, None)]
    assert kept_version(store, "returns", 1, ReturnPolicy) == default_policy()  # the built-in set, kept

    restored = kept_version(store, "returns", 2, ReturnPolicy).model_copy(update={"version": 3})
    again = save_rule_set(store, "returns", restored, NOW, "ops:ana", default_policy, restored_from=2)
    assert (again.version, again.expire_after_days) == (4, 20)
    assert history(store, "returns", ReturnPolicy).versions[0].restored_from == 2
    with pytest.raises(NotFound, match="version 9"):
        kept_version(store, "returns", 9, ReturnPolicy)


def test_versions_are_numbers_not_true_or_text() -> None:
    whole = json.loads(default_policy().model_dump_json())
    assert ReturnPolicyDocument.model_validate(whole).version == 1
    for wrong in (True, "1", 1.5):
        with pytest.raises(ValidationError):
            ReturnPolicyDocument.model_validate({**whole, "version": wrong})
        with pytest.raises(ValidationError):
            Rollback.model_validate({"to_version": wrong, "version": 2})


def test_a_rule_set_too_big_for_one_item_is_refused_before_it_is_written() -> None:
    from datetime import UTC, datetime

    from oms.domain.rule_sets import MAX_RULE_SET_BYTES, save_rule_set
    from oms.domain.sourcing_defaults import default_rules
    from oms.errors import PayloadTooLarge

    class Store:
        written = 0

        def stored_rules(self, kind, model):
            return None

        def put_rules(self, *args, **kwargs):
            Store.written += 1

    rules = default_rules().model_copy(update={"version": 1})
    padding = "x" * (MAX_RULE_SET_BYTES + 1)  # any part counts: the saved set's whole size is checked
    with pytest.raises(PayloadTooLarge):
        save_rule_set(Store(), "sourcing", rules, datetime(2026, 12, 7, tzinfo=UTC), actor=padding)
    assert Store.written == 0
    save_rule_set(Store(), "sourcing", rules, datetime(2026, 12, 7, tzinfo=UTC), actor="ops")
    assert Store.written == 1
