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

from oms import container
from oms.domain.lane_learning import performance
from oms.domain.rule_sets import save_rule_set
from oms.errors import BadRequest
from oms.http import SECURED, GuardedApp, add_openapi_route, new_resolver
from oms.models.apikey import Role
from oms.models.promising import PromisePerformance, PromiseRequest, PromiseResponse, PromisingRules
from oms.observability import logger, metrics, tracer

app = new_resolver("Fulfillment OMS: promising")

ROLES_BY_ROUTE = {
    "POST /promises": frozenset({Role.channel, Role.ops, Role.cs}),
    "GET /promising/rules": frozenset({Role.ops, Role.cs}),
    "PUT /promising/rules": frozenset({Role.ops}),
    "GET /promising/performance": frozenset({Role.ops, Role.cs}),
}


@app.post(
    "/promises",
    summary="Delivery and pickup options for a cart, per service level",
    description="Each option names its node(s), the hand-over (ship-by, node time) and the delivery window "
    "(dates in the buyer's time), the deliver-by moment (same day, instant) or the pickup-ready time. A level "
    "that cannot be offered says why. `as_of` quotes as if at that moment. Nothing is reserved.",
    security=SECURED,
)
def quote(body: PromiseRequest) -> PromiseResponse:
    answer = container.promises().quote(body)
    metrics.add_metric(name="PromiseQuotes", unit=MetricUnit.Count, value=1)
    return answer


@app.get("/promising/rules", summary="Lanes, cut-offs, default hours and extra holidays in force", security=SECURED)
def get_rules() -> PromisingRules:
    return container.reference_data().promising_rules()


@app.put(
    "/promising/rules",
    summary="Replace the promising rules",
    description="Send the rules with the `version` you read; the saved rules get the next version (409 if "
    "someone saved meanwhile). Used within 30 s everywhere.",
    security=SECURED,
)
def put_rules(body: PromisingRules) -> PromisingRules:
    if not body.lanes:
        raise BadRequest("lanes is empty: nothing could be shipped with a promise")
    saved = save_rule_set(container.reference_data(), "promising", body, datetime.now(UTC))
    logger.info("promising rules saved", extra={"version": saved.version})
    return saved


@app.get(
    "/promising/performance",
    summary="On-time rates per node, carrier and lane, and the transit days lanes learned from deliveries",
    description="Counts come from `ParcelDelivered` events (the first promise is what counts). A lane promises "
    "its own recent parcels' percentiles once it has enough of them (the rules' `learning`).",
    security=SECURED,
)
def get_performance(
    days: Annotated[int, Query(ge=1, le=120, description="Days back, today included")] = 14,
) -> PromisePerformance:
    rules = container.reference_data().promising_rules()
    return performance(container.lane_stats(), rules, datetime.now(UTC).date(), days)


add_openapi_route(app, "/promising/openapi.json")
serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
