"""The listing map under moto, with the resources created from the template (the listings table, its sparse
exception index, the FIFO refresh queue): the Dynamo store, the HTTP API, and the worker refreshing the demo
seller's shops from the channel simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from oms import container
from oms.adapters.aws import reset_clients
from oms.adapters.listings import DynamoListingCursors, DynamoListings
from oms.models.common import Channel
from oms.models.listings import ExceptionKind, Listing, ListingStatus
from oms_local import listing_sim, seed
from oms_local.channel_sim import ChannelSimulator
from oms_local.moto_txn import patch_transactions
from oms_local.resources import create_all
from oms_local.template import Template
from tests.clock import _fixed_clock  # noqa: F401  (an autouse fixture: a fixed instant)
from tests.fakes import FakeContext
from tests.support import ROOT, http_event, load_handler

REGION = "us-east-1"
OPS, CS = "oms_local_ops_key", "oms_local_ops_key_cs"
# The template with the listing map in it (OMS_TEMPLATE: a copy with it pasted in, until template.yaml has it).
TEMPLATE = Path(os.environ.get("OMS_TEMPLATE") or ROOT / "template.yaml")


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


@pytest.fixture(scope="module")
def channels() -> Iterator[ChannelSimulator]:
    simulator = ChannelSimulator(settings=seed.local_settings({})).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, channels: ChannelSimulator) -> Iterator[dict[str, str]]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                        "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_DEV": "false"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch_transactions()
    listing_sim.reset(channels.marketplaces)
    with mock_aws():
        template = Template(TEMPLATE, {"Stage": "test"})
        assert "ListingsTable" in template.resources, f"{TEMPLATE} lacks the listing map's resources"
        create_all(template, client)
        values = dict(template.functions()["ListingsWorkerFunction"].environment)
        for channel in ("shopee", "lazada", "tiktok"):
            values[f"OMS_{channel.upper()}_API_BASE"] = channels.base_url(channel)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        container.reset()
        reset_clients()
        parameters.clear_caches()
        seed.configure(client, values["SECRETS_PATH"], values["API_KEYS_TABLE"])
        seed.seed_catalog(client, values["CATALOG_TABLE"])
        seed.seed_shop_rows(client, values["CATALOG_TABLE"])
        seed.seed_shop_secrets(client, values["SECRETS_PATH"])
        yield values
        container.reset()
        reset_clients()
        parameters.clear_caches()


def _row(key: str, seller_sku: str, sku: str | None, exception: ExceptionKind | None = None) -> Listing:
    item_id, variant_id = key.split(":")
    return Listing(channel=Channel.shopee, shop_id="880022", listing_key=key, item_id=item_id, variant_id=variant_id,
                   seller_sku=seller_sku, sku=sku, status=ListingStatus.active, exception=exception)  # fmt: skip


class Context(FakeContext):
    """An invocation with `left_s` seconds to go."""

    def __init__(self, left_s: float = 300) -> None:
        self.left_s = left_s

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return int(self.left_s * 1000)


def test_the_store_keeps_rows_by_shop_and_indexes_only_the_exceptions(env) -> None:
    store, cursors = DynamoListings(env["LISTINGS_TABLE"], max_age=0), DynamoListingCursors(env["LISTINGS_TABLE"])
    duplicate, unmapped = ExceptionKind.duplicate, ExceptionKind.unmapped
    rows = [_row("1:0", "A-1", "A-1"), _row("2:0", "B-1", "B-1", duplicate), _row("3:0", "B-1", "B-1", duplicate),
            _row("4:0", "", None, unmapped)]  # fmt: skip
    store.write(rows, [])
    store.write(rows, [])  # a retried batch: the same rows
    assert sorted(r.listing_key for r in store.rows(Channel.shopee, "880022")) == ["1:0", "2:0", "3:0", "4:0"]
    # No finished refresh yet: the push has no map to use
    assert store.cached_rows(Channel.shopee, "880022") is None
    cursors.put("shopee#880022", json.dumps({"through": "2026-12-07T03:00:00+00:00"}))
    assert len(store.cached_rows(Channel.shopee, "880022") or []) == 4
    # The sparse index holds the exception rows only, by kind and shop
    assert [r.listing_key for r in store.exceptions(ExceptionKind.duplicate, Channel.shopee, "880022")] == [
        "2:0",
        "3:0",
    ]
    assert [r.listing_key for r in store.exceptions(ExceptionKind.unmapped, None, None)] == ["4:0"]
    assert store.exceptions(ExceptionKind.unmapped, Channel.shopee, "other") == []
    index = client("dynamodb").scan(TableName=env["LISTINGS_TABLE"], IndexName="by_exception")["Items"]
    assert len(index) == 3
    # A SKU's rows are a key prefix; pages go on by cursor
    first, cursor = store.page(Channel.shopee, "880022", None, 2, None)
    rest, _ = store.page(Channel.shopee, "880022", None, 2, cursor)
    assert [r.listing_key for r in first + rest] == ["4:0", "1:0", "2:0", "3:0"] and cursor
    assert [r.listing_key for r in store.page(Channel.shopee, "880022", "B-1", 10, None)[0]] == ["2:0", "3:0"]
    # A resolved exception leaves the index with its row's next put
    store.write([_row("3:0", "B-1", "B-1")], [_row("2:0", "B-1", "B-1")])
    assert (
        store.exceptions(ExceptionKind.duplicate, Channel.shopee, None) == []
        or [r.listing_key for r in store.exceptions(ExceptionKind.duplicate, Channel.shopee, None)] == []
    )


def _sqs_event(bodies: list[str]) -> dict:
    return {"Records": [{"messageId": f"m{n}", "receiptHandle": "r", "body": body, "eventSource": "aws:sqs",
                         "attributes": {"MessageGroupId": "g", "SequenceNumber": str(n)}, "messageAttributes": {},
                         "md5OfBody": "", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q.fifo",
                         "awsRegion": REGION} for n, body in enumerate(bodies)]}  # fmt: skip


def _drain(url: str) -> list[str]:
    found = []
    while messages := client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            found.append(message["Body"])
            client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _api(method: str, path: str, route: str, body: Any = None, key: str = OPS) -> tuple[int, dict]:
    event = http_event(method, path, route, body, key)
    if method == "GET":
        event["body"] = None
        if "?" in path:
            event["rawPath"], query = path.split("?", 1)
            event["queryStringParameters"] = dict(part.split("=", 1) for part in query.split("&"))
    answer = load_handler("functions/stock_sync/listings.py").lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "{}")


def test_the_schedule_refreshes_every_shop_and_the_api_shows_the_map(env, channels) -> None:
    worker = load_handler("functions/stock_sync/listings_worker.py")
    queue = env["LISTINGS_REFRESH_QUEUE_URL"]
    # When the 30-minute schedule fires for Shopee
    worker.lambda_handler({"channel": "shopee"}, Context())
    queued = _drain(queue)
    shops = sorted(json.loads(body)["shop_id"] for body in queued)
    assert shops == sorted(shop["shop_id"] for shop in seed.shops() if shop["channel"] == "shopee")
    # And the worker runs each shop's refresh
    answer = worker.lambda_handler(_sqs_event(queued), Context())
    assert answer == {"batchItemFailures": []}
    first = channels.marketplaces.shops["shopee"][0].shop_id
    # Then the API shows each shop's map: the first shop has the demo's duplicate and unknown seller SKU
    status, page = _api("GET", f"/listings?channel=shopee&shop_id={first}&limit=500", "/listings")
    assert status == 200 and len(page["items"]) == len(seed.SKUS) + 2
    status, found = _api("GET", "/listings/exceptions?channel=shopee", "/listings/exceptions")
    kinds = sorted((e["kind"], e["shop_id"], e["seller_sku"]) for e in found["items"])
    assert kinds == [("duplicate", first, seed.SKUS[0][0]), ("unmapped", first, listing_sim.UNKNOWN_SKU)]
    # And a rerun writes nothing new (the exceptions and rows stay as they are)
    before = client("dynamodb").scan(TableName=env["LISTINGS_TABLE"])["Items"]
    worker.lambda_handler(_sqs_event([json.dumps({"channel": "shopee", "shop_id": first})]), Context())
    after = client("dynamodb").scan(TableName=env["LISTINGS_TABLE"])["Items"]
    docs = lambda items: sorted(i["doc"]["S"] for i in items if "doc" in i)  # noqa: E731
    assert docs(after) == docs(before)


def test_the_refresh_route_queues_and_refuses_what_it_cannot_map(env) -> None:
    status, body = _api("POST", "/listings/refresh", "/listings/refresh", {"channel": "shopee", "shop_id": "880022"})
    assert status == 202 and body == {"channel": "shopee", "shop_id": "880022", "full": False}
    again, _ = _api("POST", "/listings/refresh", "/listings/refresh", {"channel": "shopee", "shop_id": "880022"})
    assert again == 202
    assert [json.loads(b)["shop_id"] for b in _drain(env["LISTINGS_REFRESH_QUEUE_URL"])] == ["880022"]  # one
    assert _api("POST", "/listings/refresh", "/listings/refresh", {"channel": "shopee", "shop_id": "nope"})[0] == 404
    assert _api("POST", "/listings/refresh", "/listings/refresh", {"channel": "tokopedia"})[0] == 400
    assert _api("POST", "/listings/refresh", "/listings/refresh", {"channel": "shopee"}, key=CS)[0] == 403
    assert _api("GET", "/listings/exceptions?shop_id=880022", "/listings/exceptions")[0] == 400
    assert _api("GET", "/listings?channel=lazada", "/listings")[1] == {"items": [], "next_cursor": None}


def test_a_pass_short_of_time_queues_its_own_continuation(env) -> None:
    worker = load_handler("functions/stock_sync/listings_worker.py")
    message = json.dumps({"channel": "shopee", "shop_id": "880022"})
    # When a Shopee shop's first pass has under a minute left after its first page (its listed items)
    worker.lambda_handler(_sqs_event([message]), Context(left_s=50))
    # Then it stopped and queued the rest for itself; the shop has no map yet
    continuation = _drain(env["LISTINGS_REFRESH_QUEUE_URL"])
    assert [json.loads(body)["shop_id"] for body in continuation] == ["880022"]
    assert DynamoListings(env["LISTINGS_TABLE"]).cached_rows(Channel.shopee, "880022") is None
    # And the continuation, with time, finishes the pass
    worker.lambda_handler(_sqs_event(continuation), Context())
    status, page = _api("GET", "/listings?channel=shopee&shop_id=880022&limit=500", "/listings")
    assert status == 200 and {row["sku"] for row in page["items"]} == {sku for sku, *_ in seed.SKUS}
    assert _drain(env["LISTINGS_REFRESH_QUEUE_URL"]) == []
