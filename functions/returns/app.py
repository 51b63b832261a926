"""Returns HTTP API: authorize a return (policy, routing), receive and inspect it at the node, settle
its refund, the policy as data, lists and return rates. Thin: parse, call oms.domain.returns, map."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.apikeys import actor, channels_acted_for, nodes_acted_for, require_nodes
from oms.domain.clock import wib_day
from oms.domain.return_policy import default_policy
from oms.errors import BadRequest, Forbidden
from oms.http import SECURED, GuardedApp, new_resolver
from oms.models.apikey import ApiKey, Role
from oms.models.order import Channel, Model, Moment
from oms.models.returns import (
    RefundReport,
    ReturnAccepted,
    ReturnCancel,
    ReturnCreate,
    ReturnInspection,
    ReturnPolicy,
    ReturnReason,
    ReturnReceipt,
    ReturnStats,
    Rma,
    RmaPage,
    RmaStatus,
)
from oms.models.rule_sets.returns import ReturnPolicyDocument
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.rule_routes import RuleSetRoutes
from oms.wiring.core import reference_data
from oms.wiring.returns import returns, returns_store

app = new_resolver("Fulfillment OMS: returns")

STAFF = frozenset({Role.ops, Role.cs})
ROLES_BY_ROUTE = {
    "POST /returns": frozenset({Role.cs, Role.ops, Role.channel}),
    "GET /returns": frozenset({Role.ops, Role.cs, Role.node}),
    "GET /returns/{rma_id}": frozenset({Role.ops, Role.cs, Role.node}),
    "POST /returns/{rma_id}/receive": frozenset({Role.node, Role.ops, Role.cs}),
    "POST /returns/{rma_id}/inspect": frozenset({Role.node, Role.ops}),
    "POST /returns/{rma_id}/cancel": frozenset({Role.ops, Role.cs}),
    "POST /returns/{rma_id}/refund": frozenset({Role.ops, Role.cs}),
    "POST /returns/{rma_id}/refund/retry": frozenset({Role.ops}),
    "GET /returns/policy": STAFF,
    "PUT /returns/policy": frozenset({Role.ops}),
    "GET /returns/policy/history": STAFF,
    "POST /returns/policy/rollback": frozenset({Role.ops}),
    "GET /returns/stats": STAFF,
}


class RmaView(Model):
    order_id: str
    order_number: str
    rma: Rma


def _now() -> datetime:
    return datetime.now(UTC)


@app.post(
    "/returns",
    summary="Ask for a return: lines, quantities, reasons and how the buyer sends it back",
    description="Each line is checked against the return policy (the first rule matching the channel, the SKU's "
    "category and the reason): delivered, within the window from delivery, returnable, and at most what was "
    "delivered less what is already on returns. Refused: 422 naming every rule broken (details: line_id, rule, "
    "message), nothing recorded. Accepted: one RMA per place the lines go (the drop-off store, the nearest "
    "return center, the original node, or the supplier for vendor returns). The refund is computed from the "
    "policy and requested on acceptance, receipt or inspection, as the rule says. `request_id` makes a retry "
    "answer the same RMAs (200).",
    security=SECURED,
    responses=answers(
        404,
        409,
        ok={201: {"description": "authorized"}, 200: {"description": "the same request_id again"}},
        e422="invalid, or refused by the return policy (return_refused: details name the rule broken per line)",
    ),
)
def create_return(body: ReturnCreate) -> Response[ReturnAccepted]:
    key: ApiKey = app.context["api_key"]
    accepted = returns().create(body, actor(key), channels_acted_for(key))
    logger.append_keys(order_id=accepted.order_id)
    if accepted.outcome == "created":
        metrics.add_metric(name="ReturnsAuthorized", unit=MetricUnit.Count, value=len(accepted.rmas))
        logger.info("return authorized", extra={"rma_ids": [rma.rma_id for rma in accepted.rmas]})
    status = 201 if accepted.outcome == "created" else 200
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=accepted)


RuleSetRoutes(
    path="/returns/policy",
    kind="returns",
    noun="the return policy",
    name="policy",
    model=ReturnPolicy,
    document=ReturnPolicyDocument,
    default=default_policy,
    reference=reference_data,
    get_summary="The return policy in force (the built-in one until ops save theirs)",
    put_description="Rules are tried in order; the first whose channels, categories and reasons match a line "
    "applies (a line no rule matches cannot be returned). Send the whole policy (every field GET answers; a missing "
    "part is 422 naming it) with the `version` you read (409 if someone saved meanwhile). Used within 30 s "
    "everywhere; every saved version is kept (GET /returns/policy/history).",
).add_to(app)


@app.get(
    "/returns/stats",
    summary="Return rates per SKU and reason: units returned over units delivered in the range",
    description="Counted from the events (deliveries and pickups; returned units when they arrive), per day in WIB.",
    security=SECURED,
    responses=answers(),
)
def get_stats(
    from_: Annotated[date | None, Query(alias="from", description="First day; default 30 days ago")] = None,
    to: Annotated[date | None, Query(description="Last day; default today (WIB)")] = None,
) -> ReturnStats:
    today = wib_day(_now())  # the retailer's day: at 00:30 WIB, today is not UTC's date
    end = to or today
    try:
        start = from_ or end - timedelta(days=29)
    except OverflowError:  # to=0001-01-01
        raise BadRequest("to is out of range") from None
    return returns_store().stats(start, end)


@app.get(
    "/returns",
    summary="List returns, newest first, by status, node, reason or channel",
    description="Kept from the return events (a second or so behind the RMA itself). Without a node or status "
    "the range is at most 92 days. A node key limited to its nodes lists those only: without node_id a key of "
    "one node gets its node's returns, a key of several nodes must send node_id (400); another node is 403.",
    security=SECURED,
    responses=answers(),
)
def list_returns(
    status: Annotated[RmaStatus | None, Query()] = None,
    node_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    reason: Annotated[ReturnReason | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
    created_from: Annotated[Moment | None, Query(description="ISO 8601 with offset; default 30 days ago")] = None,
    created_to: Annotated[Moment | None, Query(description="ISO 8601 with offset; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> RmaPage:
    key: ApiKey = app.context["api_key"]
    allowed = nodes_acted_for(key)
    if allowed is not None and node_id is None:
        if len(allowed) != 1:
            raise BadRequest(f"this key lists returns of its own nodes only: send node_id (one of "
                             f"{', '.join(sorted(allowed))})")  # fmt: skip
        node_id = next(iter(allowed))
    if node_id is not None:
        require_nodes(key, node_id, what="list returns of")
    end = created_to or _now()
    try:
        start = created_from or end - timedelta(days=30)
    except OverflowError:  # created_to=0001-01-01T00:00:00Z
        raise BadRequest("created_to is out of range") from None
    return returns_store().list(
        status=status.value if status else None,
        node_id=node_id,
        reason=reason.value if reason else None,
        channel=channel.value if channel else None,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )


@app.get(
    "/returns/<rma_id>",
    summary="One RMA: lines, what arrived, each unit's disposition, the refund",
    security=SECURED,
    responses=answers(404),
)
def get_return(rma_id: Annotated[str, Path(max_length=120)]) -> RmaView:
    key: ApiKey = app.context["api_key"]
    order, rma = returns().get(rma_id, consistent=True)
    allowed = nodes_acted_for(key)
    if allowed is not None and rma.destination.node_id not in allowed:
        raise Forbidden(
            f"{rma_id} goes to {rma.destination.key}: this key acts for {', '.join(sorted(allowed))} only",
            details={"node_id": rma.destination.node_id, "key_nodes": sorted(allowed)},
        )
    return RmaView(order_id=order.order_id, order_number=order.order_number, rma=rma)


@app.post(
    "/returns/<rma_id>/receive",
    summary="What arrived at the node (it may be less than announced)",
    description="Once per RMA (a second receipt is 409). Lines left out arrived with 0 units; more than announced "
    "or a line not on the RMA is 422. Items in the box that are not on the RMA go in `unexpected`: recorded, "
    "never stocked. A refund timed on receipt is requested now, for what arrived.",
    security=SECURED,
    responses=answers(404, 409),
)
def receive(rma_id: Annotated[str, Path(max_length=120)], body: ReturnReceipt) -> Rma:
    key: ApiKey = app.context["api_key"]
    rma = returns().receive(rma_id, body, actor(key), nodes_acted_for(key))
    metrics.add_metric(name="ReturnsReceived", unit=MetricUnit.Count, value=1)
    return rma


@app.post(
    "/returns/<rma_id>/inspect",
    summary="The condition of received units, and what becomes of them",
    description="resellable: back to the receiving node's stock (availability rises and the channels are told), "
    "or, at a node that does not sell returns, forwarded on a new RMA to the nearest return center; refurbish: "
    "kept out of stock; damaged: quarantined, never sellable; defective: a vendor claim when the SKU has a "
    "supplier. Several calls may inspect an RMA bit by bit; more than received is 422, before receipt 409. "
    "When every received unit is inspected a refund timed on inspection is requested.",
    security=SECURED,
    responses=answers(404, 409),
)
def inspect(rma_id: Annotated[str, Path(max_length=120)], body: ReturnInspection) -> Rma:
    key: ApiKey = app.context["api_key"]
    rma = returns().inspect(rma_id, body, actor(key), nodes_acted_for(key))
    for units in body.units:
        metrics.add_metric(name=f"ReturnUnits_{units.condition.value}", unit=MetricUnit.Count, value=units.quantity)
    return rma


@app.post(
    "/returns/<rma_id>/cancel",
    summary="Withdraw a return that has not arrived (the buyer kept it, or it was asked by mistake)",
    description="Only before a receipt and before any refund or exchange made on request (409 otherwise: receive "
    "what arrives, 0 units if nothing). Its units may be returned again.",
    security=SECURED,
    responses=answers(404, 409),
)
def cancel_return(rma_id: Annotated[str, Path(max_length=120)], body: ReturnCancel) -> Rma:
    key: ApiKey = app.context["api_key"]
    return returns().cancel(rma_id, body.reason, actor(key))


@app.post(
    "/returns/<rma_id>/refund",
    summary="Report a refund settled outside the OMS (cash, bank transfer, the marketplace, the web store)",
    description="completed or failed, for a refund that is requested (a failed one may still be completed by "
    "hand). Refunds paid through the payment provider are recorded from its answers only (409 here).",
    security=SECURED,
    responses=answers(404, 409),
)
def report_refund(rma_id: Annotated[str, Path(max_length=120)], body: RefundReport) -> Rma:
    key: ApiKey = app.context["api_key"]
    return returns().report_refund(rma_id, body, actor(key))


@app.post(
    "/returns/<rma_id>/refund/retry",
    summary="Request a failed refund again (a new attempt, with its own idempotency key at the provider)",
    security=SECURED,
    responses=answers(404, 409),
)
def retry_refund(rma_id: Annotated[str, Path(max_length=120)]) -> Rma:
    key: ApiKey = app.context["api_key"]
    return returns().retry_refund(rma_id, actor(key))


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
