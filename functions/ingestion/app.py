"""Ingestion HTTP API: webhooks (verify, store raw, ack), direct capture
from the retailer's own channels, and order reads.

Thin: parse, call the domain, map the answer. Errors become answers in
oms.http, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.api_docs import add_api_docs
from oms.channels.registry import EMPTY_ANSWER
from oms.domain.apikeys import authorize
from oms.domain.capture import CaptureResult, Outcome, order_id_for
from oms.domain.order_stats import stats_range, summarize
from oms.domain.webhooks import Acknowledgement, WebhookRequest
from oms.errors import BadRequest, NotFound
from oms.http import SECURED, GuardedApp, new_resolver, raw_body
from oms.models.api import CaptureResponse, OrderCreate, OrderList, OrderStats, WebhookAck
from oms.models.apikey import ApiKey, Role
from oms.models.order import Moment, Order, OrderDraft, OrderStatus
from oms.models.timeline import OrderView
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import SIGNED, answers
from oms.ports import OrderQuery
from oms.wiring.capture import capture_service
from oms.wiring.core import orders
from oms.wiring.inbound import webhook_receiver

app = new_resolver("Fulfillment OMS: ingestion")

STAFF = frozenset({Role.ops, Role.cs})
ROLES_BY_ROUTE = {
    "POST /orders": frozenset({Role.channel, Role.ops, Role.cs}),
    "GET /orders": STAFF,
    "GET /orders/{order_id}": STAFF,
    "GET /orders/stats": STAFF,
}


def _now() -> datetime:
    return datetime.now(UTC)


@app.post(
    "/webhooks/<channel>",
    summary="Receive a channel webhook",
    description=(
        "Verifies the channel's signature over the raw body, stores the body before answering, "
        "and normalizes it asynchronously. A repeat of a stored delivery is answered 200 'duplicate' "
        "(a 4xx would make the channel retry and, for Shopify, drop the subscription). Shopee and TikTok Shop "
        "get an empty 200 body, as they ask; Shopee's verification push is answered without being stored. "
        "The marketplaces' thin pushes are completed from the channel's order API after the answer."
    ),
    responses=answers(
        404,
        auth=SIGNED,
        ok={
            200: {
                "description": "stored (or a duplicate, or a ping); empty for Shopee and TikTok Shop",
                "content": {"application/json": {"model": WebhookAck}},
            }
        },
        e404="not a channel we take webhooks from",
    ),
)
def receive_webhook(channel: str) -> Response[WebhookAck | None]:
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    request = WebhookRequest(channel=channel, body=raw_body(event.raw_event), headers=headers)
    receipt = webhook_receiver().receive(request, _now())
    if receipt.status is Acknowledgement.accepted:
        metrics.add_metric(name="WebhooksStored", unit=MetricUnit.Count, value=1)
    elif receipt.status is Acknowledgement.duplicate:
        metrics.add_metric(name="WebhooksDuplicate", unit=MetricUnit.Count, value=1)
    logger.info("webhook received", extra={"channel": channel, "ack": receipt.status.value})
    if channel in EMPTY_ANSWER:  # Shopee and TikTok Shop want an empty 2xx body
        return Response(status_code=200, body=None)
    ack = WebhookAck(status=receipt.status.value)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=ack)


def _capture_response(result: CaptureResult) -> CaptureResponse:
    order = result.order
    return CaptureResponse(
        outcome=result.outcome.value,
        order_id=order.order_id,
        order_number=order.order_number,
        status=order.status,
        holds=order.holds,
    )


@app.post(
    "/orders",
    summary="Capture an order from an own channel (web, pos, callcenter, social)",
    description=(
        "Idempotent on (channel, channel_order_id): the same order again answers 200 with the stored order; "
        "a later channel_updated_at updates it; other content at the same channel_updated_at is 409. "
        "Held orders are stored with the reasons."
    ),
    security=SECURED,
    responses=answers(409, ok={201: {"description": "created"}, 200: {"description": "already captured (or updated)"}}),
)
def create_order(body: OrderCreate) -> Response[CaptureResponse]:
    key: ApiKey = app.context["api_key"]
    authorize(key, ROLES_BY_ROUTE["POST /orders"], channel=body.channel)
    draft = OrderDraft(
        **body.model_dump(exclude={"totals", "channel_updated_at"}),
        channel_updated_at=body.channel_updated_at or body.placed_at,
        totals=body.computed_totals(),
    )
    result = capture_service().capture(draft, _now(), likely_new=True, strict=True)
    logger.append_keys(order_id=result.order.order_id)
    if result.outcome is Outcome.created:
        metrics.add_metric(name="OrdersCaptured", unit=MetricUnit.Count, value=1)
    status = 201 if result.outcome is Outcome.created else 200
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=_capture_response(result))


@app.get(
    "/orders",
    summary="List orders, newest first",
    security=SECURED,
    responses=answers(),
)
def list_orders(
    channel: Annotated[str | None, Query(description="Sales channel")] = None,
    channel_order_id: Annotated[str | None, Query(description="With channel: the one order it names")] = None,
    status: Annotated[OrderStatus | None, Query()] = None,
    created_from: Annotated[Moment | None, Query(description="ISO 8601 with offset; default 30 days ago")] = None,
    created_to: Annotated[Moment | None, Query(description="ISO 8601 with offset; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    node: Annotated[str | None, Query(max_length=64, description="Orders with work at this node")] = None,
    at_risk: Annotated[
        bool, Query(description="Flagged by a watcher: not released, hand-over missed, no scan")
    ] = False,
    late: Annotated[bool, Query(description="Flagged late against the promise")] = False,
) -> OrderList:
    if channel_order_id is not None:
        if channel is None:
            raise BadRequest("channel_order_id needs channel")
        order = orders().get(order_id_for(channel, channel_order_id))
        matches = order is not None and (status is None or order.status == status)
        return OrderList(items=[_summary(order)] if matches else [])
    if sum([node is not None, at_risk, late]) > 1:
        raise BadRequest("node, at_risk and late are separate lists: ask for one")
    page = orders().list(
        OrderQuery(
            status=status,
            channel=channel,
            created_from=created_from,
            created_to=created_to,
            limit=limit,
            cursor=cursor,
            node_id=node,
            attention="late" if late else ("at_risk" if at_risk else None),
        )
    )
    return OrderList.model_validate({"items": page.items, "next_cursor": page.next_cursor})


def _summary(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "status": order.status,
        "placed_at": order.placed_at,
        "created_at": order.created_at,
        "currency": order.currency,
        "grand_total": order.totals.grand_total,
        "hold_codes": order.hold_codes,
    }


@app.get(
    "/orders/stats",
    summary="Orders created in a range, counted per status, per channel, and per both",
    description=(
        "Whole WIB (Asia/Jakarta) days: from the day of created_from to the day of created_to, both included "
        "(the answer's created_from and created_to are the first and last instants counted). Default: the "
        "last 30 days; created_from and created_to at most 92 days apart. Counts what each order's status is "
        "now, from daily counts the orders stream keeps (a change shows within seconds)."
    ),
    security=SECURED,
    responses=answers(),
)
def order_stats(
    created_from: Annotated[Moment | None, Query(description="ISO 8601 with offset; default 30 days ago")] = None,
    created_to: Annotated[Moment | None, Query(description="ISO 8601 with offset; default now")] = None,
) -> OrderStats:
    try:
        window = stats_range(created_from, created_to, _now())
    except OverflowError:
        raise BadRequest("created_from or created_to is out of range") from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return OrderStats.model_validate(summarize(window, orders().stats(window)))


@app.get(
    "/orders/<order_id>",
    summary="One order: lines, customer, address, holds, parcels with their promises and tracking, its timeline",
    security=SECURED,
    responses=answers(404),
)
def get_order(order_id: str) -> OrderView:
    stored = orders()
    order = stored.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return OrderView(**order.model_dump(), timeline=stored.timeline(order_id))


add_api_docs(app)  # the whole API's document, and its reference page at /docs
serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
