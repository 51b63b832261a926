"""Stock sync HTTP API: nodes, channel stock policies, availability, checkout
holds, and the WMS/POS feeds (counts in parts, adjustments).

Thin: parse, call the inventory module, map the answer. Errors become answers
in oms.http, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.apikeys import actor, authorize, require_nodes
from oms.domain.rule_sets import (
    history,
    in_force,
    kept_version,
    require_a_working_node,
    save_rule_set,
    stock_policy_kind,
)
from oms.domain.stock import InsufficientStock
from oms.domain.stock_jobs import set_buckets
from oms.errors import BadRequest, NotFound
from oms.http import SECURED, GuardedApp, new_resolver
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
)
from oms.models.order import Channel
from oms.models.rule_sets import Rollback, RuleHistory
from oms.models.rule_sets.stock import StockPolicyDocument
from oms.models.shops import ShopCreate, ShopList, ShopUpdate, ShopView
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.wiring.core import catalog, reference_data, shop_service
from oms.wiring.stock import inventory, snapshots

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
    "GET /channels/{channel}/stock-policy/history": STAFF,
    "POST /channels/{channel}/stock-policy/rollback": OPS,
    "GET /shops": STAFF,
    "POST /shops": OPS,
    "GET /shops/{channel}/{shop_id}": STAFF,
    "PATCH /shops/{channel}/{shop_id}": OPS,
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


@app.get(
    "/nodes",
    summary="Every node (DCs and stores) with its settings",
    security=SECURED,
    responses=answers(),
)
def list_nodes() -> NodeList:
    nodes = reference_data().nodes()
    return NodeList(items=[nodes[node_id] for node_id in sorted(nodes)])


@app.put(
    "/nodes/<node_id>",
    summary="Create or replace a node's settings",
    description="Seen at once by this API container and within 30 s by the others.",
    security=SECURED,
    responses=answers(),
)
def put_node(node_id: Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9\-]{1,39}$")], body: NodeSettings) -> Node:
    node = Node(node_id=node_id, updated_at=_now(), **body.model_dump())
    reference_data().put_node(node)
    logger.info("node saved", extra={"node_id": node_id})
    return node


@app.get(
    "/shops",
    summary="The seller's shops on the marketplaces and how each stands (connected, expiring, disconnected)",
    description="A shop whose access token runs out within a day without a way to renew it, or whose refresh token "
    "runs out within a day, is `expiring`; one without a token or past it is `disconnected` (its calls fail and "
    "wait, retried, until it is authorized again). Tokens themselves are never shown.",
    security=SECURED,
    responses=answers(),
)
def list_shops() -> ShopList:
    return ShopList(items=shop_service().list())


@app.post(
    "/shops",
    summary="Connect a marketplace shop: its id, its authorization (token pair) and settings; no deploy",
    description="The tokens go to SSM under the shop (<channel>/shops/<shop_id>/...), renewed by the hourly token "
    "job; the shop's pushes are then fetched with its own credentials and its orders carry its `shop_id`. 409 if "
    "it is connected already (PATCH it).",
    security=SECURED,
    responses=answers(409, ok={201: {"description": "connected"}}),
)
def create_shop(body: ShopCreate) -> Response[ShopView]:
    shop = shop_service().create(body)
    logger.info("shop connected", extra={"channel": shop.channel.value, "shop_id": shop.shop_id})
    return _json(201, shop)


@app.get(
    "/shops/<channel>/<shop_id>",
    summary="One shop and how it stands",
    security=SECURED,
    responses=answers(404),
)
def get_shop(channel: Annotated[Channel, Path()], shop_id: Annotated[str, Path(max_length=64)]) -> ShopView:
    return shop_service().view(shop_service().get(channel, shop_id))


@app.patch(
    "/shops/<channel>/<shop_id>",
    summary="Change a shop's settings (name, enabled, nodes, stock push, rate) or give it a new authorization",
    description="Send the `version` you read (409 if someone saved meanwhile). Seen within 30 s everywhere.",
    security=SECURED,
    responses=answers(404, 409),
)
def update_shop(
    channel: Annotated[Channel, Path()], shop_id: Annotated[str, Path(max_length=64)], body: ShopUpdate
) -> ShopView:
    shop = shop_service().update(channel, shop_id, body)
    logger.info("shop changed", extra={"channel": channel.value, "shop_id": shop_id, "version": shop.version})
    return shop


@app.get(
    "/channels/<channel>/stock-policy",
    summary="The nodes a channel sells from and its allocation",
    security=SECURED,
    responses=answers(),
)
def get_policy(channel: Channel) -> ChannelStockPolicy:
    # Read through (not the 30 s cache): the version answered is the one a PUT must send.
    before_any_save = partial(ChannelStockPolicy, channel=channel)
    return in_force(reference_data(), stock_policy_kind(channel), ChannelStockPolicy, before_any_save)


@app.put(
    "/channels/<channel>/stock-policy",
    summary="Set a channel's nodes and allocation policy",
    description="Send the whole policy (every field GET answers; a missing part, or `nodes: []`, is 422 naming "
    "it; `nodes: null` = every node) with the `version` you read (409 if someone saved meanwhile). Every saved "
    "version is kept (GET .../stock-policy/history).",
    security=SECURED,
    responses=answers(404, 409),
)
def put_policy(channel: Channel, body: StockPolicyDocument) -> ChannelStockPolicy:
    return _save_policy(channel, body, restored_from=None)


@app.get(
    "/channels/<channel>/stock-policy/history",
    summary="The saved versions of a channel's stock policy: who saved each and when",
    security=SECURED,
    responses=answers(),
)
def policy_history(channel: Channel) -> RuleHistory:
    return history(reference_data(), stock_policy_kind(channel), ChannelStockPolicy)


@app.post(
    "/channels/<channel>/stock-policy/rollback",
    summary="Put a kept version of a channel's stock policy back in force, as a new version",
    description="`to_version`: the version whose content is restored; `version`: the one in force as you read it "
    "(409 if someone saved meanwhile). 404 if that version is not kept.",
    security=SECURED,
    responses=answers(404, 409),
)
def rollback_policy(channel: Channel, body: Rollback) -> ChannelStockPolicy:
    kept = kept_version(reference_data(), stock_policy_kind(channel), body.to_version, ChannelStockPolicy)
    document = StockPolicyDocument.model_validate({**kept.model_dump(mode="json"), "version": body.version})
    return _save_policy(channel, document, restored_from=body.to_version)


def _save_policy(channel: Channel, document: StockPolicyDocument, restored_from: int | None) -> ChannelStockPolicy:
    if document.channel not in (None, channel):
        raise BadRequest(f"the body is channel {document.channel.value}'s policy, the path {channel.value}'s")
    reference = reference_data()
    unknown = sorted(set(document.nodes or []) - set(reference.nodes()))
    if unknown:
        raise NotFound(f"unknown node(s): {', '.join(unknown)}")
    require_a_working_node([("nodes", document.nodes)], reference.nodes())
    in_force_before = partial(ChannelStockPolicy, channel=channel)  # until the first save
    kind = stock_policy_kind(channel)
    who = actor(_key())
    saved = save_rule_set(reference, kind, document.for_channel(channel), _now(), who, in_force_before, restored_from)
    logger.info("stock policy saved", extra={"channel": channel.value, "version": saved.version})
    return saved


# ---------------------------------------------------------------- availability


@app.get(
    "/availability",
    summary="Available to promise per SKU for a channel, with pickup stores",
    description="ops and cs keys also get the per-node figures.",
    security=SECURED,
    responses=answers(),
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
    known = catalog().known_skus(set(wanted))
    found = [sku for sku in wanted if sku in known]
    with_nodes = bool({Role.ops, Role.cs} & set(key.roles))
    items = inventory().availability(found, channel, with_nodes=with_nodes) if found else []
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
    responses=answers(
        404,
        409,
        ok={201: {"description": "held"}, 200: {"description": "the same hold_key again"}},
        e409="short: details name each short SKU and what is available",
    ),
)
def create_hold(body: HoldCreate) -> Response[HoldResponse]:
    authorize(_key(), ROLES_BY_ROUTE["POST /reservations"], channel=body.channel)
    try:
        outcome = inventory().hold(body, _now())
    except InsufficientStock:
        metrics.add_metric(name="HoldsRefusedShort", unit=MetricUnit.Count, value=1)
        raise
    if outcome.created:
        metrics.add_metric(name="HoldsCreated", unit=MetricUnit.Count, value=1)
    return _json(201 if outcome.created else 200, _hold_response(outcome.reservation))


@app.get(
    "/reservations/<reservation_id>",
    summary="One hold or reservation",
    security=SECURED,
    responses=answers(404),
)
def get_hold(reservation_id: str) -> HoldResponse:
    reservation = inventory().get(reservation_id)
    authorize(_key(), SELLERS, channel=reservation.channel)
    return _hold_response(reservation)


@app.delete(
    "/reservations/<reservation_id>",
    summary="Release a hold (its units are available again at once)",
    description="Idempotent: releasing a released or expired hold answers 200 with it.",
    security=SECURED,
    responses=answers(404, 409),
)
def delete_hold(reservation_id: str) -> HoldResponse:
    service = inventory()
    reservation = service.get(reservation_id)
    authorize(_key(), ROLES_BY_ROUTE["DELETE /reservations/{reservation_id}"], channel=reservation.channel)
    if reservation.kind.value != "hold" and Role.ops not in _key().roles:
        raise BadRequest("order reservations are released by cancelling the order")
    return _hold_response(service.release(reservation_id, _now(), reason="released by the caller"))


# ---------------------------------------------------------------- feeds


@app.post(
    "/inventory/snapshots",
    summary="A count from a WMS or POS, in parts of up to 2,000 rows",
    description=(
        "Each part is validated, queued and applied asynchronously (202). Parts may arrive in any order "
        "and be resent. A count older than the node's latest is refused (409). scope=full counts SKUs of "
        "the node that no part lists as 0 once every part is applied. A node key limited to its nodes "
        "counts those only (403 naming the node otherwise)."
    ),
    security=SECURED,
    responses=answers(
        404, 409, ok={202: {"description": "queued (or a duplicate part)"}}, e409="older than the latest count"
    ),
)
def post_snapshot(body: SnapshotPart) -> Response[SnapshotAccepted]:
    require_nodes(_key(), body.node_id, what="count stock of")
    accepted = snapshots().receive(body, _now())
    metrics.add_metric(name="SnapshotRowsQueued", unit=MetricUnit.Count, value=len(body.rows))
    return _json(202, accepted)


@app.get(
    "/inventory/snapshots/<snapshot_id>",
    summary="Progress of a count",
    description="A node key limited to its nodes sees its nodes' counts only (403 naming the node otherwise).",
    security=SECURED,
    responses=answers(404),
)
def get_snapshot(snapshot_id: str) -> SnapshotStatus:
    status = snapshots().status(snapshot_id)
    require_nodes(_key(), status.node_id, what="read counts of")
    return status


@app.post(
    "/inventory/adjustments",
    summary="A receipt, adjustment, damage, transfer or restock, applied once per adjustment_id",
    description="A repeat with the same content answers 200 'duplicate'; other content under the same id is 409. "
    "A node key limited to its nodes adjusts those only, and a transfer only between two of them (stock arrives "
    "at the receiving node at once): 403 naming the node otherwise. Between nodes that different keys speak for, "
    "the sender records an adjustment (-) and the receiver a receipt (+) when the goods arrive.",
    security=SECURED,
    responses=answers(404, 409),
)
def post_adjustment(body: AdjustmentCreate) -> AdjustmentResult:
    require_nodes(_key(), body.node_id, *([body.to_node_id] if body.to_node_id else []), what="move stock of")
    outcome = inventory().adjust(body, _now())
    return AdjustmentResult(adjustment_id=body.adjustment_id, outcome=outcome)


@app.get(
    "/inventory/stock/<sku>/<node_id>",
    summary="One stock position, its buckets and latest movements",
    security=SECURED,
    responses=answers(404),
)
def get_stock(sku: str, node_id: str) -> dict[str, Any]:
    service = inventory()
    service.node(node_id)
    levels = service.store.levels([(sku, node_id)], consistent=True)
    if not levels:
        raise NotFound(f"no stock item for {sku} at {node_id}")
    return {
        "buckets": [level.model_dump(mode="json") for level in sorted(levels, key=lambda level: level.bucket)],
        "movements": service.store.movements(sku, node_id),
    }


@app.put(
    "/inventory/stock/<sku>/<node_id>/buckets",
    summary="Spread a flash-sale SKU's stock at a node over several items (hot SKUs)",
    security=SECURED,
    responses=answers(404, 409),
)
def put_buckets(sku: str, node_id: str, body: BucketsUpdate) -> list[StockLevel]:
    levels = set_buckets(inventory(), sku, node_id, body.buckets, _now())
    return sorted(levels, key=lambda level: level.bucket)


@app.get(
    "/inventory/reports/<kind>",
    summary="The latest audit or reconciliation report",
    security=SECURED,
    responses=answers(404),
)
def get_report(kind: str) -> dict[str, Any]:
    if kind not in ("audit", "reconcile"):
        raise NotFound("reports are 'audit' and 'reconcile'")
    found = inventory().store.latest_report(kind)
    if found is None:
        raise NotFound(f"no {kind} has run yet")
    return found


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
