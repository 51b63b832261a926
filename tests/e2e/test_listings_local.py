"""End to end through the local stack: the listing map refreshed from the simulated marketplaces (the demo
seller's two Shopee shops), its exceptions, and a rerun that changes nothing."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oms_local import LocalRuntime, listing_sim
from oms_local.seed import DEFAULTS, SKUS, shops
from tests.support import ROOT

pytestmark = pytest.mark.e2e

OPS = {"x-api-key": DEFAULTS["OMS_API_KEY"], "content-type": "application/json"}
# The template with the listing map in it (OMS_TEMPLATE: a copy with it pasted in, until template.yaml has it).
TEMPLATE = Path(os.environ.get("OMS_TEMPLATE") or ROOT / "template.yaml")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(TEMPLATE, port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms-listings"), seed=True)
    with runtime:
        yield runtime


def http(stack: LocalRuntime, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.url + path, data=data, method=method, headers=OPS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_a_refresh_maps_every_shop_and_lists_the_demo_exceptions(stack: LocalRuntime) -> None:
    first, second = (shop["shop_id"] for shop in shops() if shop["channel"] == "shopee")
    # When ops ask for every Shopee shop's listings to be read
    status, accepted = http(stack, "POST", "/listings/refresh", {"channel": "shopee"})
    assert status == 202 and accepted == {"channel": "shopee", "shop_id": None, "full": False}
    stack.drain()
    # Then each shop's map holds the catalogue under that shop's own ids
    for shop_id, extra in ((first, 2), (second, 0)):
        status, page = http(stack, "GET", f"/listings?channel=shopee&shop_id={shop_id}&limit=500")
        assert status == 200 and len(page["items"]) == len(SKUS) + extra
    status, one = http(stack, "GET", f"/listings?channel=shopee&shop_id={second}&sku={SKUS[0][0]}")
    assert [row["sku"] for row in one["items"]] == [SKUS[0][0]]
    # And the first shop's duplicate SKU and unknown seller SKU are the exception list
    status, found = http(stack, "GET", "/listings/exceptions?channel=shopee")
    assert status == 200
    kinds = sorted((e["kind"], e["shop_id"], e["seller_sku"]) for e in found["items"])
    assert kinds == [("duplicate", first, SKUS[0][0]), ("unmapped", first, listing_sim.UNKNOWN_SKU)]
    duplicate = next(e for e in found["items"] if e["kind"] == "duplicate")
    assert [row["listing_key"] for row in duplicate["listings"] if row["primary"]] == [duplicate["pushed_to"]]
    # And asking again changes nothing
    before = http(stack, "GET", f"/listings?channel=shopee&shop_id={first}&limit=500")[1]
    assert http(stack, "POST", "/listings/refresh", {"channel": "shopee", "shop_id": first})[0] == 202
    stack.drain()
    assert http(stack, "GET", f"/listings?channel=shopee&shop_id={first}&limit=500")[1] == before
