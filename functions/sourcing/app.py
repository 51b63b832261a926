"""Sourcing HTTP API: the rules (data, changed without a deploy), the dry-run
planner, every decision's trace, and retries after a sourcing hold. (Node
rejections and delays arrive through the status API.)

Thin: parse, call oms.domain.sourcing, map the answer. Errors become answers
in oms.http, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from oms.domain.apikeys import actor
from oms.domain.rule_sets import history, in_force, kept_version, require_a_working_node, save_rule_set
from oms.domain.sourcing_defaults import default_rules
from oms.errors import NotFound
from oms.http import SECURED, GuardedApp, new_resolver
from oms.models.apikey import Role
from oms.models.order import Model
from oms.models.rule_sets import Rollback, RuleHistory, SourcingRulesDocument
from oms.models.sourcing import Plan, PlanRequest, SourcingRules
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.wiring.core import orders, reference_data
from oms.wiring.sourcing import sourcing

app = new_resolver("Fulfillment OMS: sourcing")

STAFF = frozenset({Role.ops, Role.cs})
ROLES_BY_ROUTE = {
    "POST /sourcing/plan": STAFF,
    "GET /sourcing/rules": STAFF,
    "PUT /sourcing/rules": frozenset({Role.ops}),
    "GET /sourcing/rules/history": STAFF,
    "POST /sourcing/rules/rollback": frozenset({Role.ops}),
    "GET /orders/{order_id}/sourcing": STAFF,
    "POST /orders/{order_id}/sourcing/retry": frozenset({Role.ops}),
}


class Decision(Model):
    round: int
    at: str
    outcome: str
    plan: dict[str, Any] = Field(description="The plan as made: shipments, cost breakdown, trace, the stock it saw")


class Decisions(Model):
    order_id: str
    decisions: list[Decision]


class SourcingOutcome(Model):
    order_id: str
    outcome: str
    detail: str | None = None


@app.post(
    "/sourcing/plan",
    summary="Dry run: the plan for a stored order or a cart, its cost breakdown and trace",
    description="Nothing is reserved or written. `rules` tries a proposed rule set instead of the stored one.",
    security=SECURED,
    responses=answers(404),
)
def dry_run(body: PlanRequest) -> Plan:
    return sourcing().dry_run(body)


@app.get(
    "/sourcing/rules",
    summary="The sourcing rules in force (the built-in defaults until saved)",
    security=SECURED,
    responses=answers(),
)
def get_rules() -> SourcingRules:
    return in_force(reference_data(), "sourcing", SourcingRules, default_rules)


@app.put(
    "/sourcing/rules",
    summary="Replace the sourcing rules",
    description="Send the whole rule set (every field GET answers) with the `version` you read; the saved rules "
    "get the next version. A missing part, or rules that leave routing without rates, is 422 naming it. A "
    "version that is no longer current is 409 (someone saved meanwhile). Every sourcing container uses the new "
    "rules within 30 s; every saved version is kept (GET /sourcing/rules/history).",
    security=SECURED,
    responses=answers(404, 409),
)
def put_rules(body: SourcingRulesDocument) -> SourcingRules:
    return _save_rules(body, restored_from=None)


@app.get(
    "/sourcing/rules/history",
    summary="The saved versions of the sourcing rules: who saved each and when",
    security=SECURED,
    responses=answers(),
)
def rules_history() -> RuleHistory:
    return history(reference_data(), "sourcing", SourcingRules)


@app.post(
    "/sourcing/rules/rollback",
    summary="Put a kept version of the sourcing rules back in force, as a new version",
    description="`to_version`: the version whose content is restored; `version`: the one in force as you read it "
    "(409 if someone saved meanwhile). 404 if that version is not kept.",
    security=SECURED,
    responses=answers(404, 409),
)
def rollback_rules(body: Rollback) -> SourcingRules:
    kept = kept_version(reference_data(), "sourcing", body.to_version, SourcingRules)
    document = SourcingRulesDocument.model_validate({**kept.model_dump(mode="json"), "version": body.version})
    return _save_rules(document, restored_from=body.to_version)


def _save_rules(document: SourcingRulesDocument, restored_from: int | None) -> SourcingRules:
    reference = reference_data()
    rules: SourcingRules = document.rule_set()
    unknown = sorted(
        {node for channel in (rules.default_channel, *rules.channels.values()) for node in channel.nodes or []}
        - set(reference.nodes())
    )
    if unknown:
        raise NotFound(f"unknown node(s) in the rules: {', '.join(unknown)}")
    lists = [("default_channel.nodes", rules.default_channel.nodes)]
    lists += [(f"channels.{channel.value}.nodes", rule.nodes) for channel, rule in rules.channels.items()]
    require_a_working_node(lists, reference.nodes())
    who = actor(app.context["api_key"])
    saved = save_rule_set(reference, "sourcing", rules, datetime.now(UTC), who, default_rules, restored_from)
    logger.info("sourcing rules saved", extra={"version": saved.version, "restored_from": restored_from})
    return saved


@app.get(
    "/orders/<order_id>/sourcing",
    summary="Every sourcing decision of an order, with its trace",
    security=SECURED,
    responses=answers(404),
)
def decisions(order_id: Annotated[str, Path(max_length=64)]) -> Decisions:
    if orders().get(order_id) is None:
        raise NotFound(f"no order {order_id}")
    return Decisions(order_id=order_id, decisions=[Decision(**d) for d in orders().traces(order_id)])


@app.post(
    "/orders/<order_id>/sourcing/retry",
    summary="Clear the order's sourcing hold and source it again",
    description="After fixing what held it (a rate, a node, stock at the pickup store). Holds of other "
    "kinds (unpaid, address) stay. An order waiting for stock is sourced again at once.",
    security=SECURED,
    responses=answers(404, 409),
)
def retry(order_id: Annotated[str, Path(max_length=64)]) -> SourcingOutcome:
    result = sourcing().retry(order_id)
    return SourcingOutcome(order_id=result.order_id, outcome=result.outcome, detail=result.detail)


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
