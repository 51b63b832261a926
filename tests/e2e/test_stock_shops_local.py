"""End to end through the local stack: two Shopee shops of one seller, bound to different nodes, are each
told their own stock figure in their own shop; one shop is pushed again on its own."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS, STOCK_POLICIES
from tests.support import ROOT, admin

pytestmark = pytest.mark.e2e

OPS = {"x-api-key": DEFAULTS["OMS_API_KEY"], "content-type": "application/json"}
WMS = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_wms", "content-type": "application/json"}
SKU = "TEH-TUBRUK-100"
OFFICIAL, OUTLET = DEFAULTS["OMS_SHOPEE_SHOP_ID"], "880022"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms-shops"), seed=True
    )
    with runtime:
        yield runtime


def http(stack: LocalRuntime, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.url + path, data=data, method=method, headers=headers or OPS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def bind(stack: LocalRuntime, shop_id: str, nodes: list[str]) -> None:
    status, shop = http(stack, "GET", f"/shops/shopee/{shop_id}")
    assert status == 200, shop
    settings = {name: shop[name] for name in ("name", "enabled", "stock_push", "rate_per_s", "version")}
    status, body = http(stack, "PATCH", f"/shops/shopee/{shop_id}", {**settings, "nodes": nodes})
    assert status == 200 and body["nodes"] == nodes, body


def node_atp(stack: LocalRuntime, node_id: str) -> int:
    status, body = http(stack, "GET", f"/availability?skus={SKU}&channel=web")
    assert status == 200, body
    return next(node["atp"] for node in body["items"][0]["nodes"] if node["node_id"] == node_id)


def test_two_shopee_shops_bound_to_different_nodes_are_told_different_figures(stack: LocalRuntime) -> None:
    assert stack.channels is not None
    stack.drain()
    bind(stack, OFFICIAL, ["DC-CKG"])
    bind(stack, OUTLET, ["DC-SBY"])
    receipt = {"adjustment_id": "shops-e2e-1", "kind": "receipt", "node_id": "DC-CKG",
               "lines": [{"sku": SKU, "quantity": 30}]}  # fmt: skip
    assert http(stack, "POST", "/inventory/adjustments", receipt, WMS)[0] == 200
    stack.drain()
    # push-all reads the shops afresh (the push function keeps them for up to 30 s)
    out = admin(stack, "stock", "push-all", "--channel", "shopee", "--sku", SKU)
    assert "0 failed" in out, out

    buffer = STOCK_POLICIES["shopee"]["value"]
    ckg, sby = node_atp(stack, "DC-CKG"), node_atp(stack, "DC-SBY")
    shown = stack.channels.marketplaces.shown_by_shop
    assert shown[("shopee", OFFICIAL)][SKU]["atp"] == max(0, ckg - buffer)
    assert shown[("shopee", OUTLET)][SKU]["atp"] == max(0, sby - buffer)
    assert shown[("shopee", OFFICIAL)][SKU]["atp"] != shown[("shopee", OUTLET)][SKU]["atp"]

    # One shop pushed again on its own: only its calls
    before = len(stack.channels.calls_for("shopee"))
    out = admin(stack, "stock", "push-all", "--channel", "shopee", "--shop", OUTLET, "--sku", SKU, "--force")
    assert f"sent {{'shopee#{OUTLET}': 1}}" in out and "0 failed" in out, out
    stock_calls = [c for c in stack.channels.calls_for("shopee")[before:] if c["path"].endswith("/update_stock")]
    assert len(stock_calls) == 1, stock_calls
    with pytest.raises(subprocess.CalledProcessError) as refused:  # a shop the channel does not have
        admin(stack, "stock", "push-all", "--channel", "shopee", "--shop", "404")
    assert "no shopee shop 404" in refused.value.stderr
