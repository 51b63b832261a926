"""Promising HTTP API: quotes for a cart (options per service level with their
dates), and the promising rules (lanes, cut-offs, default hours, extra holidays)
as data. Thin: parse, call oms.domain.promising, map the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.apikeys import authorize
from oms.domain.clock import wib_day
from oms.domain.lane_learning import performance
from oms.domain.promising_defaults import default_promising_rules
from oms.http import SECURED, GuardedApp, new_resolver
from oms.models.apikey import Role
from oms.models.promising import PromisePerformance, PromiseRequest, PromiseResponse, PromisingRules
from oms.models.rule_sets.promising import PromisingRulesDocument
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.rule_routes import RuleSetRoutes
from oms.wiring.core import reference_data
from oms.wiring.sourcing import lane_stats, promises

app = new_resolver("Fulfillment OMS: promising")

ROLES_BY_ROUTE = {
    "POST /promises": frozenset({Role.channel, Role.ops, Role.cs}),
    "GET /promising/rules": frozenset({Role.ops, Role.cs}),
    "PUT /promising/rules": frozenset({Role.ops}),
    "GET /promising/rules/history": frozenset({Role.ops, Role.cs}),
    "POST /promising/rules/rollback": frozenset({Role.ops}),
    "GET /promising/performance": frozenset({Role.ops, Role.cs}),
}


@app.post(
    "/promises",
    summary="Delivery and pickup options for a cart, per service level",
    description="Each option names its node(s), the hand-over (ship-by, node time) and the delivery window "
    "(dates in the buyer's time), the deliver-by moment (same day, instant) or the pickup-ready time. A level "
    "that cannot be offered says why. `as_of` quotes as if at that moment. Nothing is reserved.",
    security=SECURED,
    responses=answers(),
)
def quote(body: PromiseRequest) -> PromiseResponse:
    authorize(app.context["api_key"], ROLES_BY_ROUTE["POST /promises"], channel=body.channel)  # a channel key: its own
    answer = promises().quote(body)
    metrics.add_metric(name="PromiseQuotes", unit=MetricUnit.Count, value=1)
    return answer


RuleSetRoutes(
    path="/promising/rules",
    kind="promising",
    noun="the promising rules",
    name="rules",
    model=PromisingRules,
    document=PromisingRulesDocument,
    default=default_promising_rules,
    reference=reference_data,
    get_summary="Lanes, cut-offs, default hours and extra holidays in force",
    put_description="Send the whole rule set (every field GET answers) with the `version` you read; the saved "
    "rules get the next version (409 if someone saved meanwhile). A missing part, or no lanes, is 422 naming it. "
    "Used within 30 s everywhere; every saved version is kept (GET /promising/rules/history).",
).add_to(app)


@app.get(
    "/promising/performance",
    summary="On-time rates per node, carrier and lane, and the transit days lanes learned from deliveries",
    description="Counts come from `ParcelDelivered` events (the first promise is what counts). A lane promises "
    "its own recent parcels' percentiles once it has enough of them (the rules' `learning`).",
    security=SECURED,
    responses=answers(),
)
def get_performance(
    days: Annotated[int, Query(ge=1, le=120, description="Days back, today included")] = 14,
) -> PromisePerformance:
    rules = reference_data().promising_rules()
    return performance(lane_stats(), rules, wib_day(datetime.now(UTC)), days)


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
