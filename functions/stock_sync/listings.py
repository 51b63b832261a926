"""Listing map HTTP API: which listing of each shop carries each SKU, the exceptions (unmapped listings,
SKUs listed twice in a shop), and a refresh on demand.

Thin: parse, call oms.domain.listings, map the answer. The refresh itself runs in the listings worker
(listings_worker.py): this API queues it (202).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.listings import require_listed, shop_key
from oms.errors import BadRequest, NotFound
from oms.http import SECURED, GuardedApp, new_resolver
from oms.models.apikey import Role
from oms.models.common import Channel
from oms.models.listings import (
    DEFAULT_SHOP,
    ExceptionKind,
    ListingExceptionList,
    ListingPage,
    RefreshAccepted,
    RefreshRequest,
)
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.wiring.core import shops
from oms.wiring.listings import listing_map, refresh_queue

app = new_resolver("Fulfillment OMS: listing map")

OPS = frozenset({Role.ops})
STAFF = frozenset({Role.ops, Role.cs})
ROLES_BY_ROUTE = {
    "GET /listings": STAFF,
    "GET /listings/exceptions": STAFF,
    "POST /listings/refresh": OPS,
}
ShopParam = Annotated[
    str | None,
    Query(max_length=64, pattern=r"^[A-Za-z0-9_\-.]+$",
          description="A registered shop's id; omitted (or 'default'): the channel's unregistered default shop"),
]  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def _known_shop(channel: Channel, shop_id: str | None) -> str | None:
    """The registered shop named (404 if it is not one), or None for the channel's default shop."""
    if shop_id in (None, DEFAULT_SHOP):
        return None
    if not any(shop.channel is channel and shop.shop_id == shop_id for shop in shops().shops()):
        raise NotFound(f"no {channel.value} shop {shop_id}: GET /shops lists them")
    return shop_id


@app.get(
    "/listings",
    summary="A shop's listing map: each listing, the seller SKU it carries and the OMS SKU it maps to",
    description="One row per channel listing (Shopee item and model, TikTok Shop product and SKU, Lazada item and "
    "SkuId with its ShopSku), by SKU. `sku` narrows to one SKU's listings. Paged: send `next_cursor` back as "
    "`cursor`.",
    security=SECURED,
    responses=answers(404),
)
def list_listings(
    channel: Annotated[Channel, Query()],
    shop_id: ShopParam = None,
    sku: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> ListingPage:
    require_listed(channel)
    shop = shop_key(_known_shop(channel, shop_id))
    items, next_cursor = listing_map().store.page(channel, shop, sku, limit, cursor)
    return ListingPage(items=items, next_cursor=next_cursor)


@app.get(
    "/listings/exceptions",
    summary="The listing exceptions to work through: unmapped listings and SKUs listed twice in a shop",
    description="`unmapped`: a listing whose seller SKU is empty or not a catalog SKU (the stock push cannot tell "
    "it anything). `duplicate`: one SKU on two or more listings of a shop; the stock push tells one of them (its "
    "`pushed_to`: an active listing first, then the oldest item) and leaves the others alone until they are "
    "delisted or given another seller SKU. Without `kind`, both; without `channel`, every channel's.",
    security=SECURED,
    responses=answers(404),
)
def list_exceptions(
    channel: Annotated[Channel | None, Query()] = None,
    shop_id: ShopParam = None,
    kind: Annotated[ExceptionKind | None, Query()] = None,
) -> ListingExceptionList:
    if channel is None:
        if shop_id is not None:
            raise BadRequest("shop_id needs its channel")
        return ListingExceptionList(items=listing_map().exceptions(kind, None, None))
    require_listed(channel)
    shop = None if shop_id is None else shop_key(_known_shop(channel, shop_id))
    return ListingExceptionList(items=listing_map().exceptions(kind, channel, shop))


@app.post(
    "/listings/refresh",
    summary="Read a shop's listings again now (or every shop of the channel): queued, 202",
    description="Reads the listings changed since the shop's last refresh (a few minutes of overlap); `full` reads "
    "every listing again. The listings worker runs it (a large shop's first pass goes on over several runs); the "
    "map and its exceptions change as it goes. Every channel is also refreshed every 30 minutes.",
    security=SECURED,
    responses=answers(404, ok={202: {"description": "queued"}}),
)
def refresh(body: RefreshRequest) -> Response[RefreshAccepted]:
    require_listed(body.channel)
    shop_id = None if body.shop_id is None else _known_shop(body.channel, body.shop_id)
    every = body.shop_id is None
    now = _now()
    # A repeat of the same ask within a minute is one refresh (the queue drops the copy).
    dedup = f"ask#{body.channel.value}#{body.shop_id or '*'}#{body.full}#{now:%Y%m%d%H%M}"
    refresh_queue().send(body.channel, None if every else shop_key(shop_id), full=body.full, dedup=dedup)
    logger.info("listing refresh queued", extra={"channel": body.channel.value, "shop_id": body.shop_id or "*"})
    accepted = RefreshAccepted(channel=body.channel, shop_id=None if every else shop_key(shop_id), full=body.full)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=accepted)


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
