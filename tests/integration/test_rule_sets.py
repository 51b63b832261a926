"""Rule sets over HTTP, against moto: a PUT is a whole document or 422 naming what is missing; stock
policies are versioned like the rest; every saved version is kept with who saved it, and can be restored."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from oms import container
from oms.domain.sourcing_defaults import default_rules
from oms.errors import StaleWrite
from oms.models.order import Channel
from oms.models.sourcing import SourcingRules
from tests.integration.conftest import client
from tests.support import FakeContext, http_event, load_handler

OPS = "oms_local_ops_key"
CS = "oms_local_ops_key_cs"
WHO = "ops:local ops"

APPS = {
    "sourcing": "functions/sourcing/app.py",
    "promising": "functions/promising/app.py",
    "returns": "functions/returns/app.py",
    "channels": "functions/stock_sync/app.py",
}


def _api(method: str, path: str, body: Any = None, key: str = OPS, **params: str) -> tuple[int, dict]:
    route = path
    for name, value in params.items():
        route = route.replace(value, "{" + name + "}")
    event = http_event(method, path, route, body, key)
    if method == "GET":
        event["body"] = None
    if params:
        event["pathParameters"] = params
    app = load_handler(APPS[path.split("/")[1]])
    answer = app.lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "{}")


def _problems(answer: dict) -> str:
    return json.dumps(answer.get("details") or answer.get("message"))


RULE_SETS = [("/sourcing/rules", "per_shipment_cost"), ("/promising/rules", "max_pickup_km"),
             ("/returns/policy", "expire_after_days")]  # fmt: skip


@pytest.mark.parametrize(("path", "field"), RULE_SETS)
def test_a_partial_rule_set_is_refused_and_the_rules_stay(stack, path: str, field: str) -> None:
    status, before = _api("GET", path)
    assert status == 200 and before["version"] == 1
    for partial in ({}, {"version": 1}, {"version": 1, field: before[field]}):
        status, answer = _api("PUT", path, partial)
        assert status == 422, answer
        assert "Field required" in answer["message"]
        if "version" not in partial:
            assert "body.version" in _problems(answer)
    missing = {key: value for key, value in before.items() if key != field}
    status, answer = _api("PUT", path, missing)
    assert status == 422 and f"body.{field}" in answer["message"]  # named
    assert _api("GET", path) == (200, before)  # nothing was saved


def test_routing_without_rates_or_promising_without_lanes_is_refused(stack) -> None:
    _, rules = _api("GET", "/sourcing/rules")
    status, answer = _api("PUT", "/sourcing/rules", {**rules, "rates": {}})
    assert status == 422 and "rates is empty" in answer["message"]
    _, promising = _api("GET", "/promising/rules")
    status, answer = _api("PUT", "/promising/rules", {**promising, "lanes": []})
    assert status == 422 and "lanes is empty" in answer["message"]
    assert _api("GET", "/sourcing/rules")[1]["rates"] == rules["rates"]


@pytest.mark.parametrize(("path", "field"), RULE_SETS)
def test_saved_versions_are_kept_with_who_saved_them_and_can_be_restored(stack, path: str, field: str) -> None:
    _, v1 = _api("GET", path)
    assert _api("GET", f"{path}/history", key=CS) == (200, {"kind": _kind(path), "current_version": 1, "versions": []})
    changed = {**v1, field: 20000 if field == "per_shipment_cost" else 20}
    status, v2 = _api("PUT", path, changed)
    assert status == 200, v2
    assert (v2["version"], v2["updated_by"]) == (2, WHO)
    assert _api("GET", path)[1]["version"] == 2

    status, kept = _api("GET", f"{path}/history", key=CS)
    assert status == 200 and kept["current_version"] == 2
    assert [(v["version"], v["updated_by"]) for v in kept["versions"]] == [(2, WHO), (1, None)]  # 1: built in

    assert _api("POST", f"{path}/rollback", {"to_version": 1, "version": 2}, key=CS)[0] == 403
    assert _api("POST", f"{path}/rollback", {"to_version": 1, "version": 1})[0] == 409  # stale
    assert _api("POST", f"{path}/rollback", {"to_version": 7, "version": 2})[0] == 404  # never saved
    status, v3 = _api("POST", f"{path}/rollback", {"to_version": 1, "version": 2})
    assert status == 200, v3
    assert (v3["version"], v3["updated_by"], v3[field]) == (3, WHO, v1[field])
    versions = _api("GET", f"{path}/history")[1]["versions"]
    assert [(v["version"], v["restored_from"]) for v in versions] == [(3, 1), (2, None), (1, None)]
    assert _api("GET", path)[1][field] == v1[field]
    assert _api("PUT", path, v3)[0] == 200  # a save after a rollback leaves the rollback's record alone
    versions = _api("GET", f"{path}/history")[1]["versions"]
    assert [(v["version"], v["restored_from"]) for v in versions] == [(4, None), (3, 1), (2, None), (1, None)]


def _kind(path: str) -> str:
    return {"/sourcing/rules": "sourcing", "/promising/rules": "promising", "/returns/policy": "returns"}[path]


# ---------------------------------------------------------------- channel stock policies


def _policy(method: str, suffix: str = "", body: Any = None, key: str = OPS, channel: str = "shopee"):
    return _api(method, f"/channels/{channel}/stock-policy{suffix}", body, key, channel=channel)


def test_a_stock_policy_is_whole_versioned_and_kept(stack) -> None:
    status, seeded = _policy("GET")
    assert status == 200 and seeded["version"] == 1 and seeded["nodes"]  # the demo's, saved before versions

    status, answer = _policy("PUT", body={})
    assert status == 422
    for part in ("version", "nodes", "allocation", "value", "low_threshold", "push"):
        assert f"body.{part}" in _problems(answer)
    status, answer = _policy("PUT", body={**seeded, "nodes": []})
    assert status == 422 and "nodes is empty" in answer["message"]
    assert _policy("PUT", body={**seeded, "channel": "lazada"})[0] == 400
    assert _policy("PUT", body={**seeded, "nodes": ["DC-NOWHERE"]})[0] == 404
    assert _policy("GET") == (200, seeded)  # nothing was saved

    status, saved = _policy("PUT", body={**seeded, "allocation": "buffer", "value": 7})  # GET's answer, changed
    assert status == 200, saved
    assert (saved["version"], saved["updated_by"], saved["nodes"]) == (2, WHO, seeded["nodes"])
    assert container.reference_data().policy(Channel.shopee).value == 7  # in force in this container at once
    assert _policy("PUT", body={**seeded, "value": 9})[0] == 409  # version 1 is no longer current

    status, kept = _policy("GET", "/history", key=CS)
    assert status == 200 and kept["kind"] == "stock-policy#shopee"
    assert [(v["version"], v["updated_by"]) for v in kept["versions"]] == [(2, WHO), (1, None)]
    status, restored = _policy("POST", "/rollback", {"to_version": 1, "version": 2})
    assert status == 200, restored
    assert restored["version"] == 3
    assert (restored["allocation"], restored["value"]) == (seeded["allocation"], seeded["value"])
    assert _policy("GET")[1]["version"] == 3


def test_a_channel_never_saved_starts_at_version_one_and_its_first_save_keeps_the_defaults(stack) -> None:
    status, fresh = _policy("GET", channel="callcenter")
    assert status == 200 and (fresh["version"], fresh["nodes"]) == (1, None)  # every node
    status, saved = _policy("PUT", body={**fresh, "low_threshold": 2}, channel="callcenter")
    assert status == 200 and saved["version"] == 2
    versions = _policy("GET", "/history", channel="callcenter")[1]["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert _policy("PUT", body={**fresh, "version": 2, "nodes": None}, channel="callcenter")[0] == 200


# ---------------------------------------------------------------- the OpenAPI document


def test_the_promising_schema_says_hh_mm_not_an_offset_time(stack) -> None:
    schema = json.dumps(load_handler(APPS["promising"]).app.get_openapi_schema().model_dump(mode="json"))
    assert '"format": "time"' not in schema
    assert "[0-5][0-9](:[0-5][0-9])?$" in schema


# ---------------------------------------------------------------- the store


def test_a_lost_race_writes_neither_the_rules_nor_their_history(stack) -> None:
    reference = container.reference_data()
    mine = default_rules().model_copy(update={"version": 2, "per_shipment_cost": Decimal(1)})
    reference.put_rules("sourcing", mine, expected_version=None)
    theirs = mine.model_copy(update={"version": 3, "per_shipment_cost": Decimal(2)})
    with pytest.raises(StaleWrite):
        reference.put_rules("sourcing", theirs, expected_version=None)  # someone saved first
    with pytest.raises(StaleWrite):
        reference.put_rules("sourcing", theirs, expected_version=1)
    assert reference.rule_version("sourcing", 3, SourcingRules) is None
    assert reference.stored_rules("sourcing", SourcingRules) == mine
    assert reference.rule_version("sourcing", 2, SourcingRules) == mine


def test_rules_saved_before_history_was_kept_join_it_at_the_next_save(stack) -> None:
    legacy = default_rules().model_copy(update={"version": 5, "per_shipment_cost": Decimal(12000)})
    item = {"pk": {"S": "SOURCING#rules"}, "version": {"N": "5"}, "rules": {"S": legacy.model_dump_json()}}
    client("dynamodb").put_item(TableName=stack.env["CATALOG_TABLE"], Item=item)  # as the old code wrote it
    _, rules = _api("GET", "/sourcing/rules")
    assert (rules["version"], rules["per_shipment_cost"]) == (5, "12000")
    assert _api("PUT", "/sourcing/rules", {**rules, "per_shipment_cost": 13000})[0] == 200
    versions = _api("GET", "/sourcing/rules/history")[1]["versions"]
    assert [(v["version"], v["updated_by"]) for v in versions] == [(6, WHO), (5, None)]
    status, restored = _api("POST", "/sourcing/rules/rollback", {"to_version": 5, "version": 6})
    assert (status, restored["version"], restored["per_shipment_cost"]) == (200, 7, "12000")


def test_rules_whose_nodes_are_all_disabled_are_refused_like_empty_ones(stack) -> None:
    """A channel routed only to disabled nodes holds every order: refused, naming the list."""
    from oms.models.inventory import Node

    reference = container.reference_data()
    store = reference.nodes()["ST-BDG-PVJ"]
    reference.put_node(Node(**{**store.model_dump(), "enabled": False}))
    rules = _api("GET", "/sourcing/rules")[1]
    rules["channels"] = {"pos": {"nodes": ["ST-BDG-PVJ"]}}
    status, answer = _api("PUT", "/sourcing/rules", rules)
    assert status == 422 and "channels.pos.nodes" in answer["message"], answer
    rules["channels"] = {"pos": {"nodes": ["ST-BDG-PVJ", "DC-CKG"]}}  # one enabled node is enough
    assert _api("PUT", "/sourcing/rules", rules)[0] == 200
    policy = _api("GET", "/channels/web/stock-policy", channel="web")[1]
    policy["nodes"] = ["ST-BDG-PVJ"]
    status, answer = _api("PUT", "/channels/web/stock-policy", policy, channel="web")
    assert status == 422 and "every node listed is disabled" in answer["message"], answer
