"""Sourcing HTTP API: the rules (data, changed without a deploy), the dry-run
planner, every decision's trace, and retries after a sourcing hold. (Node
rejections and delays arrive through the status API.)

Thin: parse, call oms.domain.sourcing, map the answer. Errors become answers
in oms.http, in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from oms.domain.rule_sets import require_a_working_node
from oms.domain.sourcing_defaults import default_rules
from oms.errors import NotFound
from oms.http import SECURED, GuardedApp, new_resolver
from oms.models.apikey import Role
from oms.models.order import Model
from oms.models.rule_sets.sourcing import SourcingRulesDocument
from oms.models.sourcing import Plan, PlanRequest, SourcingRules
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.rule_routes import RuleSetRoutes
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


def _known_working_nodes(rules: SourcingRules) -> None:
    """The nodes the rules name exist, and each channel's list keeps one that works (the document cannot see
    the nodes)."""
    nodes = reference_data().nodes()
    unknown = sorted(
        {node for channel in (rules.default_channel, *rules.channels.values()) for node in channel.nodes or []}
        - set(nodes)
    )
    if unknown:
        raise NotFound(f"unknown node(s) in the rules: {', '.join(unknown)}")
    lists = [("default_channel.nodes", rules.default_channel.nodes)]
    lists += [(f"channels.{channel.value}.nodes", rule.nodes) for channel, rule in rules.channels.items()]
    require_a_working_node(lists, nodes)


RuleSetRoutes(
    path="/sourcing/rules",
    kind="sourcing",
    noun="the sourcing rules",
    name="rules",
    model=SourcingRules,
    document=SourcingRulesDocument,
    default=default_rules,
    reference=reference_data,
    get_summary="The sourcing rules in force (the built-in defaults until saved)",
    put_description="Send the whole rule set (every field GET answers) with the `version` you read; the saved "
    "rules get the next version. A missing part, or rules that leave routing without rates, is 422 naming it. A "
    "version that is no longer current is 409 (someone saved meanwhile). Every sourcing container uses the new "
    "rules within 30 s; every saved version is kept (GET /sourcing/rules/history).",
    put_errors=(404, 409),
    check=_known_working_nodes,
).add_to(app)


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
