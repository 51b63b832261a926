"""Stock sync HTTP API: nodes, channel stock policies, availability, checkout
holds, and the WMS/POS feeds (counts in parts, adjustments).

Thin: parse, call the inventory module, map the answer. Errors become answers
in oms.http, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import container
from oms.domain.apikeys import authorize
from oms.domain.stock import InsufficientStock
from oms.domain.stock_jobs import set_buckets
from oms.errors import BadRequest, NotFound
from oms.http import SECURED, GuardedApp, add_openapi_route, new_resolver
from oms.models.apikey import ApiKey, Role
from oms.models.inventory import (
    AdjustmentCreate,
    AdjustmentResult,
    AvailabilityResponse,
    BucketsUpdate,
    ChannelStockPolicy,
    HoldCreate,
    HoldResponse,
    Node,
    NodeList,
    NodeSettings,
    Reservation,
    SnapshotAccepted,
    SnapshotPart,
    SnapshotStatus,
    StockLevel,
    StockPolicy,
)
from oms.models.order import Channel
from oms.observability import logger, metrics, tracer

app = new_resolver("Fulfillment OMS: stock")

OPS = frozenset({Role.ops})
STAFF = frozenset({Role.ops, Role.cs})
FEEDS = frozenset({Role.node, Role.ops})
SELLERS = frozenset({Role.channel, Role.ops, Role.cs})
ROLES_BY_ROUTE = {
    "GET /nodes": STAFF,
    "PUT /nodes/{node_id}": OPS,
    "GET /channels/{channel}/stock-policy": STAFF,
    "PUT /channels/{channel}/stock-policy": OPS,
    "GET /availability": SELLERS,
    "POST /reservations": frozenset({Role.channel, Role.ops}),
    "GET /reservations/{reservation_id}": SELLERS,
    "DELETE /reservations/{reservation_id}": frozenset({Role.channel, Role.ops}),
    "POST /inventory/snapshots": FEEDS,
    "GET /inventory/snapshots/{snapshot_id}": FEEDS,
    "POST /inventory/adjustments": FEEDS,
    "GET /inventory/stock/{sku}/{node_id}": STAFF,
    "PUT /inventory/stock/{sku}/{node_id}/buckets": OPS,
    "GET /inventory/reports/{kind}": OPS,
}
MAX_SKUS_PER_READ = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _key() -> ApiKey:
    return app.context["api_key"]


def _json(status: int, model: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=model)


# ---------------------------------------------------------------- nodes and policies


@app.get("/nodes", summary="Every node (DCs and stores) with its settings", security=SECURED)
def list_nodes() -> NodeList:
    nodes = container.reference_data().nodes()
    return NodeList(items=[nodes[node_id] for node_id in sorted(nodes)])


@app.put(
    "/nodes/<node_id>",
    summary="Create or replace a node's settings",
    description="Seen at once by this API container and within 30 s by the others.",
    security=SECURED,
)
def put_node(node_id: Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9\-]{1,39}$")], body: NodeSettings) -> Node:
    node = Node(node_id=node_id, updated_at=_now(), **body.model_dump())
    container.reference_data().put_node(node)
    logger.info("node saved", extra={"node_id": node_id})
    return node


@app.get(
    "/channels/<channel>/stock-policy", summary="The nodes a channel sells from and its allocation", security=SECURED
)
def get_policy(channel: Channel) -> ChannelStockPolicy:
    stored = container.reference_data().policies().get(channel.value)
    return stored or ChannelStockPolicy(channel=channel, **StockPolicy().model_dump())


@app.put("/channels/<channel>/stock-policy", summary="Set a channel's nodes and allocation policy", security=SECURED)
def put_policy(channel: Channel, body: StockPolicy) -> ChannelStockPolicy:
    nodes = container.reference_data().nodes()
    unknown = sorted(set(body.nodes or []) - set(nodes))
    if unknown:
        raise NotFound(f"unknown node(s): {', '.join(unknown)}")
    policy = ChannelStockPolicy(channel=channel, updated_at=_now(), **body.model_dump())
    container.reference_data().put_policy(policy)
    return policy


# ---------------------------------------------------------------- availability


@app.get(
    "/availability",
    summary="Available to promise per SKU for a channel, with pickup stores",
    description="ops and cs keys also get the per-node figures.",
    security=SECURED,
)
def get_availability(
    skus: Annotated[str, Query(min_length=1, description="Comma-separated SKUs (at most 50)")],
    channel: Annotated[Channel, Query()],
) -> AvailabilityResponse:
    key = _key()
    authorize(key, SELLERS, channel=channel)
    wanted = list(dict.fromkeys(sku.strip() for sku in skus.split(",") if sku.strip()))
    if not wanted:
        raise BadRequest("skus names no SKU")
    if len(wanted) > MAX_SKUS_PER_READ:
        raise BadRequest(f"at most {MAX_SKUS_PER_READ} SKUs per request; {len(wanted)} were asked")
    known = container.catalog().known_skus(set(wanted))
    found = [sku for sku in wanted if sku in known]
    with_nodes = bool({Role.ops, Role.cs} & set(key.roles))
    items = container.inventory().availability(found, channel, with_nodes=with_nodes) if found else []
    return AvailabilityResponse(items=items, unknown_skus=[sku for sku in wanted if sku not in known])


# ---------------------------------------------------------------- holds


def _hold_response(reservation: Reservation) -> HoldResponse:
    return HoldResponse(
        reservation_id=reservation.reservation_id,
        status=reservation.status,
        channel=reservation.channel,
        expires_at=reservation.expires_at,
        lines=reservation.lines,
    )


@app.post(
    "/reservations",
    summary="Hold stock for a checkout, for ttl_seconds",
    description=(
        "201 with the hold, or 409 insufficient_stock naming each short SKU and what is available. "
        "With hold_key a retry answers 200 with the same hold and never holds twice."
    ),
    security=SECURED,
    responses={
        201: {"description": "held"},
        200: {"description": "the same hold_key again"},
        409: {"description": "short"},
    },
)
def create_hold(body: HoldCreate) -> Response[HoldResponse]:
    authorize(_key(), ROLES_BY_ROUTE["POST /reservations"], channel=body.channel)
    try:
        outcome = container.inventory().hold(body, _now())
    except InsufficientStock:
        metrics.add_metric(name="HoldsRefusedShort", unit=MetricUnit.Count, value=1)
        raise
    if outcome.created:
        metrics.add_metric(name="HoldsCreated", unit=MetricUnit.Count, value=1)
    return _json(201 if outcome.created else 200, _hold_response(outcome.reservation))


@app.get("/reservations/<reservation_id>", summary="One hold or reservation", security=SECURED)
def get_hold(reservation_id: str) -> HoldResponse:
    reservation = container.inventory().get(reservation_id)
    authorize(_key(), SELLERS, channel=reservation.channel)
    return _hold_response(reservation)


@app.delete(
    "/reservations/<reservation_id>",
    summary="Release a hold (its units are available again at once)",
    description="Idempotent: releasing a released or expired hold answers 200 with it.",
    security=SECURED,
)
def delete_hold(reservation_id: str) -> HoldResponse:
    inventory = container.inventory()
    reservation = inventory.get(reservation_id)
    authorize(_key(), ROLES_BY_ROUTE["DELETE /reservations/{reservation_id}"], channel=reservation.channel)
    if reservation.kind.value != "hold" and Role.ops not in _key().roles:
        raise BadRequest("order reservations are released by cancelling the order")
    return _hold_response(inventory.release(reservation_id, _now(), reason="released by the caller"))


# ---------------------------------------------------------------- feeds


@app.post(
    "/inventory/snapshots",
    summary="A count from a WMS or POS, in parts of up to 2,000 rows",
    description=(
        "Each part is validated, queued and applied asynchronously (202). Parts may arrive in any order "
        "and be resent. A count older than the node's latest is refused (409). scope=full counts SKUs of "
        "the node that no part lists as 0 once every part is applied."
    ),
    security=SECURED,
    responses={
        202: {"description": "queued (or a duplicate part)"},
        409: {"description": "older than the latest count"},
    },
)
def post_snapshot(body: SnapshotPart) -> Response[SnapshotAccepted]:
    accepted = container.snapshots().receive(body, _now())
    metrics.add_metric(name="SnapshotRowsQueued", unit=MetricUnit.Count, value=len(body.rows))
    return _json(202, accepted)


@app.get("/inventory/snapshots/<snapshot_id>", summary="Progress of a count", security=SECURED)
def get_snapshot(snapshot_id: str) -> SnapshotStatus:
    return container.snapshots().status(snapshot_id)


@app.post(
    "/inventory/adjustments",
    summary="A receipt, adjustment, damage, transfer or restock, applied once per adjustment_id",
    description="A repeat with the same content answers 200 'duplicate'; other content under the same id is 409.",
    security=SECURED,
)
def post_adjustment(body: AdjustmentCreate) -> AdjustmentResult:
    outcome = container.inventory().adjust(body, _now())
    return AdjustmentResult(adjustment_id=body.adjustment_id, outcome=outcome)


@app.get(
    "/inventory/stock/<sku>/<node_id>", summary="One stock position, its buckets and latest movements", security=SECURED
)
def get_stock(sku: str, node_id: str) -> dict[str, Any]:
    inventory = container.inventory()
    inventory.node(node_id)
    levels = inventory.store.levels([(sku, node_id)], consistent=True)
    if not levels:
        raise NotFound(f"no stock item for {sku} at {node_id}")
    return {
        "buckets": [level.model_dump(mode="json") for level in sorted(levels, key=lambda level: level.bucket)],
        "movements": inventory.store.movements(sku, node_id),
    }


@app.put(
    "/inventory/stock/<sku>/<node_id>/buckets",
    summary="Spread a flash-sale SKU's stock at a node over several items (hot SKUs)",
    security=SECURED,
)
def put_buckets(sku: str, node_id: str, body: BucketsUpdate) -> list[StockLevel]:
    levels = set_buckets(container.inventory(), sku, node_id, body.buckets, _now())
    return sorted(levels, key=lambda level: level.bucket)


@app.get("/inventory/reports/<kind>", summary="The latest audit or reconciliation report", security=SECURED)
def get_report(kind: str) -> dict[str, Any]:
    if kind not in ("audit", "reconcile"):
        raise NotFound("reports are 'audit' and 'reconcile'")
    found = container.inventory().store.latest_report(kind)
    if found is None:
        raise NotFound(f"no {kind} has run yet")
    return found


add_openapi_route(app, "/inventory/openapi.json")
serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
