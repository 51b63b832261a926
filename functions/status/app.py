"""Status HTTP API: what nodes report on their parcels, carrier tracking pushes, and order tracking
for buyers. Thin: parse, call oms.domain.status / carrier_webhooks / tracking, map the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.apikeys import actor, channels_acted_for, nodes_acted_for
from oms.errors import TooManyRequests
from oms.http import SECURED, GuardedApp, new_resolver, raw_body
from oms.models.apikey import Role
from oms.models.order import Address, Model, Order
from oms.models.status import CancelRequest, FulfillmentOutcome, NodeEvent
from oms.models.tracking import Tracking
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import PUBLIC, SIGNED, answers
from oms.wiring.status import carrier_webhooks, order_changes, status, tracking

app = new_resolver("Fulfillment OMS: status")

CHANGERS = frozenset({Role.cs, Role.ops, Role.channel})
ROLES_BY_ROUTE = {
    "POST /fulfillments/{fulfillment_id}/events": frozenset({Role.node, Role.ops}),
    "POST /orders/{order_id}/cancel": CHANGERS,
    "PATCH /orders/{order_id}/shipping-address": CHANGERS,
    # POST /webhooks/carriers/{carrier}: signed by the carrier. GET /track/{order_number}: the buyer's contact.
}


class CarrierAck(Model):
    status: str
    detail: str | None = None
    fulfillment: FulfillmentOutcome | None = None


@app.post(
    "/fulfillments/<fulfillment_id>/events",
    summary="A node reports on its parcel: accepted, picked, packed, shipped, ready_for_pickup, picked_up, "
    "rejected, delayed",
    description="Statuses only move forward: a repeat or a late report changes nothing (and says so); a move "
    "out of an ended parcel is 409. `shipped` needs the carrier and tracking number and consumes the "
    "reservation; a tracking number already on another parcel is 409. `rejected` releases the reservation and "
    "sources the lines again; `delayed` promises again from `ready_at`.",
    security=SECURED,
    responses=answers(404, 409),
)
def fulfillment_event(
    fulfillment_id: Annotated[str, Path(max_length=100)],
    body: Annotated[NodeEvent, Body(discriminator="type")],
) -> FulfillmentOutcome:
    key = app.context["api_key"]
    outcome = status().node_event(fulfillment_id, body, nodes_acted_for(key), actor(key))
    metrics.add_metric(name=f"NodeEvent_{body.type}", unit=MetricUnit.Count, value=1)
    logger.info("fulfillment event", extra={"fulfillment_id": fulfillment_id, "type": body.type,
                                            "outcome": outcome.outcome})  # fmt: skip
    return outcome


@app.post(
    "/orders/<order_id>/cancel",
    summary="Cancel an order, or some of its lines, until the parcels holding them are handed over",
    description="Their stock is released at once; a parcel that also held other lines is released whole and "
    "those lines are sourced again. A parcel already shipped is 409 (a return takes it back). Marketplace "
    "orders are cancelled in the marketplace (409 here). A repeat changes nothing.",
    security=SECURED,
    responses=answers(404, 409),
)
def cancel(order_id: Annotated[str, Path(max_length=64)], body: CancelRequest) -> Order:
    key = app.context["api_key"]
    order = order_changes().cancel(order_id, body.line_ids, body.reason, actor(key), channels_acted_for(key))
    metrics.add_metric(name="OrdersCancelledByApi", unit=MetricUnit.Count, value=1)
    return order


@app.patch(
    "/orders/<order_id>/shipping-address",
    summary="Change the delivery address until a parcel is packed",
    description="The whole address, replaced. The postal code must be an Indonesian one. Sourcing then promises "
    "the open parcels again (PromiseChanged) and sources again a parcel no lane reaches from its node. "
    "Marketplace orders change in the marketplace (409 here).",
    security=SECURED,
    responses=answers(404, 409),
)
def change_address(order_id: Annotated[str, Path(max_length=64)], body: Address) -> Order:
    key = app.context["api_key"]
    return order_changes().change_address(order_id, body, actor(key), channels_acted_for(key))


@app.post(
    "/webhooks/carriers/<carrier>",
    summary="A carrier's tracking push (Biteship, or any carrier signing with Standard Webhooks)",
    description="`biteship`: Biteship's order.status body, authenticated by the header and value set in its "
    "dashboard; its empty install probe gets 200. Any other carrier name: our tracking body signed the Standard "
    "Webhooks way (webhook-id, webhook-timestamp within 5 minutes, webhook-signature v1). The parcel is found by "
    "its tracking number (404 if no parcel has it; 409 if it was shipped with another carrier or the move is "
    "not allowed); applied before the answer, so a 200 means it is kept.",
    responses=answers(404, 409, auth=SIGNED, description="applied, ignored or a probe"),
)
def carrier_webhook(carrier: Annotated[str, Path(max_length=40)]) -> CarrierAck:
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    answer = carrier_webhooks().receive(carrier, headers, raw_body(event.raw_event), datetime.now(UTC))
    metrics.add_metric(name=f"CarrierPush_{answer.kind}", unit=MetricUnit.Count, value=1)
    logger.info("carrier push", extra={"carrier": carrier, "kind": answer.kind,
                                       "outcome": answer.outcome.outcome if answer.outcome else None})  # fmt: skip
    return CarrierAck(status=answer.kind, detail=answer.detail, fulfillment=answer.outcome)


@app.get(
    "/track/<order_number>",
    summary="Order tracking for the buyer: status, parcels, tracking numbers, promised and estimated dates",
    description="Send the email or phone on the order in the `x-buyer-contact` header (not in the URL: URLs "
    "are logged). An unknown number and a wrong contact get the same 404. Wrong answers are throttled per client "
    "address and number: after 10 on a number (forgotten 24 h after the last), each further one makes the address "
    "wait on that number 1 min, doubling up to 1 h (429 with Retry-After); an address with 100 wrong answers across "
    "numbers waits on all of them. On a number that took 10 wrong answers from anyone, an address's first wrong "
    "answer on it starts its wait at once; a number never refuses a client that did not answer wrong on it. "
    "Nothing personal is returned.",
    responses=answers(404, 429, auth=PUBLIC, e429="this address answered wrong too often: wait Retry-After seconds"),
)
def track(
    order_number: Annotated[str, Path(max_length=40)],
    x_buyer_contact: Annotated[str | None, Header(max_length=320, description="The buyer's email or phone")] = None,
) -> Tracking:
    source_ip = (app.current_event.raw_event.get("requestContext") or {}).get("http", {}).get("sourceIp")
    try:
        return tracking().track(order_number, x_buyer_contact, datetime.now(UTC), source_ip)
    except TooManyRequests:
        metrics.add_metric(name="TrackingThrottled", unit=MetricUnit.Count, value=1)
        raise


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
