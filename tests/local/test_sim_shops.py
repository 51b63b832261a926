"""Several shops per marketplace in the channel simulator (oms_local.marketplace_sim) and the demo seed
(oms_local.seed): each shop's orders, pushes and tokens are its own. The simulator is driven in process
through the OMS's own Shopee and TikTok Shop clients, over a fake HTTP that hands each request to it."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oms.adapters.marketplace_api import shopee as shopee_api
from oms.adapters.marketplace_api import tiktok as tiktok_api
from oms.adapters.marketplace_api.shopee import ShopeeApi, ShopeeError
from oms.adapters.marketplace_api.tiktok import TiktokApi, TiktokError
from oms.errors import DependencyError
from oms.models.shops import Shop
from oms_local import seed
from oms_local.marketplace_sim import MarketplaceSim
from oms_local.seed import DEFAULTS, SHOPS
from tests.fakes import FakeSecrets

LINES = [{"sku": "KOP-GAYO-250", "quantity": 2, "unit_price": 89000}]
NOW = 1_765_000_000  # the clients' clock: the simulator checks signatures, not the time
OFFICIAL, OUTLET = "880011", "880022"
BATIK, KOPI = "7494049642642441621", "7494049642642441622"
CIPHER = {BATIK: DEFAULTS["OMS_TIKTOK_SHOP_CIPHER"], KOPI: "ROW_local_shop_cipher_2"}


class SimHttp:
    """ChannelHttp.request answered by the simulator in process (query values as text, as on the wire)."""

    def __init__(self, sim: MarketplaceSim, channel: str) -> None:
        self.sim = sim
        self.channel = channel

    def request(self, method, path, *, query=None, body=None, headers=None, what="API", attempts=3):
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        texts = {name: str(value) for name, value in (query or {}).items()}
        served = self.sim.serve(self.channel, method, path, texts, body or b"", lowered)
        return served if served is not None else (404, None)


def demo_shop(channel: str, shop_id: str) -> dict[str, Any]:
    return next(shop for shop in seed.shops({}) if shop["channel"] == channel and shop["shop_id"] == shop_id)


@pytest.fixture
def sim() -> MarketplaceSim:
    return MarketplaceSim(dict(DEFAULTS))


# --- Shopee ----------------------------------------------------------------------------------------------


def shopee_secrets(shop_id: str, **tokens: str) -> dict[str, str]:
    """The secrets the OMS calls one Shopee shop with: the app's, and the shop's id and tokens."""
    shop = demo_shop("shopee", shop_id)
    return {
        "shopee/partner_id": DEFAULTS["OMS_SHOPEE_PARTNER_ID"],
        "shopee/partner_key": DEFAULTS["OMS_SHOPEE_PARTNER_KEY"],
        "shopee/shop_id": shop_id,
        "shopee/access_token": tokens.get("access_token", shop["access_token"]),
        "shopee/refresh_token": tokens.get("refresh_token", shop["refresh_token"]),
    }


def shopee(sim: MarketplaceSim, shop_id: str, **tokens: str) -> ShopeeApi:
    return ShopeeApi(SimHttp(sim, "shopee"), FakeSecrets(shopee_secrets(shop_id, **tokens)), clock=lambda: NOW)


def shopee_detail(api: ShopeeApi, shop_id: str, order_sn: str) -> list[str]:
    """The order_sn get_order_detail answers for, asked for `shop_id` with the api's token."""
    params = {"order_sn_list": order_sn, "response_optional_fields": "item_list"}
    answer = api.call("GET", shopee_api.DETAIL_PATH, shop_id, params)
    return [order["order_sn"] for order in answer["response"]["order_list"]]


def test_an_order_of_the_outlet_is_pushed_and_shown_as_the_outlets(sim):
    # Given an order at each Shopee shop (the official one by default)
    outlet = sim.create({"channel": "shopee", "lines": LINES, "shop_id": OUTLET})
    official = sim.create({"channel": "shopee", "lines": LINES})
    # Then each push names its own shop
    assert [push["shop_id"] for push in sim.pushes(outlet)] == [int(OUTLET)]
    assert [push["shop_id"] for push in sim.pushes(official)] == [int(OFFICIAL)]
    # And the outlet reads its own order, its items under the outlet's own item ids
    found = shopee(sim, OUTLET).get_orders(OUTLET, [outlet.order_id])
    outlet_item = found[outlet.order_id]["item_list"][0]["item_id"]
    official_item = shopee(sim, OFFICIAL).get_orders(OFFICIAL, [official.order_id])[official.order_id]
    assert outlet_item != official_item["item_list"][0]["item_id"]
    # A shop the seller has not got is refused when the order is made
    with pytest.raises(ValueError, match="880033"):
        sim.create({"channel": "shopee", "lines": LINES, "shop_id": "880033"})


def test_a_shops_token_reads_its_own_orders_only(sim):
    # Given an order at each shop
    outlet = sim.create({"channel": "shopee", "lines": LINES, "shop_id": OUTLET})
    official = sim.create({"channel": "shopee", "lines": LINES, "shop_id": OFFICIAL})
    official_api, outlet_api = shopee(sim, OFFICIAL), shopee(sim, OUTLET)
    # Then each shop finds its own order, and the other's is as unknown to it
    assert official_api.get_orders(OFFICIAL, [official.order_id, outlet.order_id]).keys() == {official.order_id}
    assert outlet_api.get_orders(OUTLET, [official.order_id, outlet.order_id]).keys() == {outlet.order_id}
    # And a shop's token does not open the other shop, whichever it asks for
    for api, other, order in ((official_api, OUTLET, outlet), (outlet_api, OFFICIAL, official)):
        with pytest.raises(ShopeeError) as refused:
            shopee_detail(api, other, order.order_id)
        assert refused.value.error == "invalid_access_token"
    # The order lists are each shop's own
    since, until = min(outlet.updated, official.updated), max(outlet.updated, official.updated) + 1
    for api, mine in ((official_api, official), (outlet_api, outlet)):
        listed = api.call("GET", shopee_api.LIST_PATH, None, {"time_from": since, "time_to": until})
        assert [row["order_sn"] for row in listed["response"]["order_list"]] == [mine.order_id]


def test_the_outlet_ships_its_own_order_not_the_official_shops(sim):
    sim.push_after_outbound = False
    official = sim.create({"channel": "shopee", "lines": LINES})
    body = {"order_sn": official.order_id, "non_integrated": {"tracking_number": "JX0001"}}
    # When the outlet's credentials ship the official shop's order, Shopee knows no such order there
    with pytest.raises(ShopeeError) as refused:
        shopee(sim, OUTLET).call("POST", "/api/v2/logistics/ship_order", None, {}, json.dumps(body).encode())
    assert refused.value.error == "error_not_found"
    # And the order is untouched
    assert sim.get("shopee", official.order_id).status == "READY_TO_SHIP"
    # While its own shop ships it
    shopee(sim, OFFICIAL).call("POST", "/api/v2/logistics/ship_order", None, {}, json.dumps(body).encode())
    assert sim.get("shopee", official.order_id).status == "SHIPPED"


def refresh_shopee(sim: MarketplaceSim, shop_id: str, **tokens: str) -> Any:
    secrets = shopee_secrets(shop_id, **tokens)
    return shopee_api.refresh_token(SimHttp(sim, "shopee"), lambda name: secrets[f"shopee/{name}"], NOW)


def test_renewing_one_shopee_shop_leaves_the_others_tokens_alone(sim):
    outlet = sim.create({"channel": "shopee", "lines": LINES, "shop_id": OUTLET})
    official = sim.create({"channel": "shopee", "lines": LINES, "shop_id": OFFICIAL})
    # When the outlet renews its pair
    pair = refresh_shopee(sim, OUTLET)
    assert pair.access_token != demo_shop("shopee", OUTLET)["access_token"]
    # Then the new token opens the outlet, not the official shop
    renewed = shopee(sim, OUTLET, access_token=pair.access_token, refresh_token=pair.refresh_token)
    assert renewed.get_orders(OUTLET, [outlet.order_id]).keys() == {outlet.order_id}
    with pytest.raises(ShopeeError):
        shopee_detail(renewed, OFFICIAL, official.order_id)
    # And the official shop's own tokens still work, its refresh token renewing only its own pair
    assert shopee(sim, OFFICIAL).get_orders(OFFICIAL, [official.order_id]).keys() == {official.order_id}
    with pytest.raises(DependencyError, match="error_auth"):
        refresh_shopee(sim, OUTLET, refresh_token=demo_shop("shopee", OFFICIAL)["refresh_token"])
    with pytest.raises(DependencyError, match="error_auth"):
        refresh_shopee(sim, OFFICIAL, refresh_token=pair.refresh_token)
    official_pair = refresh_shopee(sim, OFFICIAL)
    with pytest.raises(ShopeeError):
        shopee_detail(shopee(sim, OFFICIAL, access_token=official_pair.access_token), OUTLET, outlet.order_id)


def test_a_token_given_to_the_simulator_by_hand_is_the_default_shops(sim):
    sim.access_tokens["shopee"].add("a_hand_made_token")
    official = sim.create({"channel": "shopee", "lines": LINES})
    assert shopee(sim, OFFICIAL, access_token="a_hand_made_token").get_orders(OFFICIAL, [official.order_id])
    with pytest.raises(ShopeeError):
        shopee_detail(shopee(sim, OFFICIAL, access_token="a_hand_made_token"), OUTLET, official.order_id)


# --- TikTok Shop -----------------------------------------------------------------------------------------


def tiktok_secrets(shop_id: str, **overrides: str) -> dict[str, str]:
    shop = demo_shop("tiktok", shop_id)
    values = {
        "app_key": DEFAULTS["OMS_TIKTOK_APP_KEY"],
        "app_secret": DEFAULTS["OMS_TIKTOK_APP_SECRET"],
        "shop_cipher": shop["shop_cipher"],
        "access_token": shop["access_token"],
        "refresh_token": shop["refresh_token"],
        **overrides,
    }
    return {f"tiktok/{name}": value for name, value in values.items()}


def tiktok(sim: MarketplaceSim, shop_id: str, **overrides: str) -> TiktokApi:
    return TiktokApi(SimHttp(sim, "tiktok"), FakeSecrets(tiktok_secrets(shop_id, **overrides)), clock=lambda: NOW)


def tiktok_detail(api: TiktokApi, order_id: str) -> list[str]:
    answer = api.call("GET", tiktok_api.DETAIL_PATH, {"ids": order_id})
    return [order["id"] for order in answer["data"]["orders"]]


def test_a_tiktok_order_belongs_to_the_shop_its_cipher_names(sim):
    # Given an order at each TikTok shop
    kopi = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": KOPI})
    batik = sim.create({"channel": "tiktok", "lines": LINES})
    # Then each push names its own shop
    assert sim.pushes(kopi)[0]["shop_id"] == KOPI
    assert sim.pushes(batik)[0]["shop_id"] == BATIK
    # And each shop reads its own order only, the other's as unknown
    kopi_api, batik_api = tiktok(sim, KOPI), tiktok(sim, BATIK)
    assert kopi_api.get_orders(None, [kopi.order_id, batik.order_id]).keys() == {kopi.order_id}
    assert batik_api.get_orders(None, [kopi.order_id, batik.order_id]).keys() == {batik.order_id}
    since, until = min(kopi.updated, batik.updated), max(kopi.updated, batik.updated) + 1
    body = {"update_time_ge": since, "update_time_lt": until}
    listed = kopi_api.call("POST", tiktok_api.SEARCH_PATH, {"page_size": "20"}, body)
    assert [order["id"] for order in listed["data"]["orders"]] == [kopi.order_id]


def test_a_tiktok_shops_token_does_not_open_the_other_shop(sim):
    kopi = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": KOPI})
    batik = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": BATIK})
    for shop_id, other, order in ((BATIK, KOPI, kopi), (KOPI, BATIK, batik)):
        # One shop's token, naming the other shop
        crossed = tiktok(sim, shop_id, shop_cipher=CIPHER[other])
        with pytest.raises(TiktokError) as refused:
            tiktok_detail(crossed, order.order_id)
        assert refused.value.code == 105002
    # A cipher of no shop the seller authorized is refused
    with pytest.raises(TiktokError):
        tiktok_detail(tiktok(sim, KOPI, shop_cipher="ROW_no_such_shop"), kopi.order_id)


def test_renewing_one_tiktok_shop_leaves_the_others_tokens_alone(sim):
    kopi = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": KOPI})
    batik = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": BATIK})
    secrets = tiktok_secrets(KOPI)
    # When Kopi Nusantara renews its pair (its refresh token names the shop)
    pair = tiktok_api.refresh_token(SimHttp(sim, "tiktok"), lambda name: secrets[f"tiktok/{name}"], NOW)
    # Then the new token opens Kopi Nusantara only
    assert tiktok_detail(tiktok(sim, KOPI, access_token=pair.access_token), kopi.order_id) == [kopi.order_id]
    with pytest.raises(TiktokError):
        tiktok_detail(tiktok(sim, BATIK, access_token=pair.access_token), batik.order_id)
    # And Batik Nusantara's own token still works
    assert tiktok_detail(tiktok(sim, BATIK), batik.order_id) == [batik.order_id]


def test_a_tiktok_shop_cancels_its_own_orders_only(sim):
    sim.push_after_outbound = False
    batik = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": BATIK})
    body = {"order_id": batik.order_id, "cancel_reason": "seller_cancel_reason_out_of_stock"}
    with pytest.raises(TiktokError) as refused:
        tiktok(sim, KOPI).call("POST", "/return_refund/202309/cancellations", {}, body)
    assert refused.value.code == 36009003  # not found, at that shop
    assert sim.get("tiktok", batik.order_id).status == "AWAITING_SHIPMENT"
    tiktok(sim, BATIK).call("POST", "/return_refund/202309/cancellations", {}, body)
    assert sim.get("tiktok", batik.order_id).status == "CANCELLED"


# --- Tokopedia: TikTok Shop orders of a TikTok shop -------------------------------------------------------


def test_a_tokopedia_order_is_a_tiktok_shop_order_of_that_shop(sim, monkeypatch):
    sim.push_after_outbound = False
    # Given a Tokopedia order and a TikTok order of the same TikTok shop, and one of the other shop
    tokopedia = sim.create({"channel": "tokopedia", "lines": LINES, "shop_id": KOPI})
    tiktok_order = sim.create({"channel": "tiktok", "lines": LINES, "shop_id": KOPI})
    batik = sim.create({"channel": "tokopedia", "lines": LINES})  # the first TikTok shop by default
    assert (tokopedia.channel, tokopedia.shop_id, tokopedia.status) == ("tokopedia", KOPI, "AWAITING_SHIPMENT")
    assert len(tokopedia.order_id) == 18 and tokopedia.order_id.isdigit() and batik.shop_id == BATIK
    # Then the shop's Get Order Detail and Search Orders serve both, each saying its storefront
    kopi_api = tiktok(sim, KOPI)
    answer = kopi_api.call("GET", tiktok_api.DETAIL_PATH, {"ids": f"{tokopedia.order_id},{tiktok_order.order_id}"})
    platforms = {order["id"]: (order["platform"], order["status"]) for order in answer["data"]["orders"]}
    assert platforms == {
        tokopedia.order_id: ("TOKOPEDIA", "AWAITING_SHIPMENT"),
        tiktok_order.order_id: ("TIKTOK_SHOP", "AWAITING_SHIPMENT"),
    }
    since, until = min(tokopedia.updated, tiktok_order.updated), max(tokopedia.updated, tiktok_order.updated) + 1
    body = {"update_time_ge": since, "update_time_lt": until}
    listed = kopi_api.call("POST", tiktok_api.SEARCH_PATH, {"page_size": "20"}, body)["data"]["orders"]
    assert {order["id"] for order in listed} == {tokopedia.order_id, tiktok_order.order_id}
    # And the other shop's Tokopedia order is as unknown to it
    assert tiktok_detail(kopi_api, batik.order_id) == []
    # Its push is TikTok Shop's status push, naming the shop, sent to /webhooks/tiktok with TikTok's signature
    (push,) = sim.pushes(tokopedia)
    assert (push["type"], push["shop_id"], push["data"]["order_id"]) == (1, KOPI, tokopedia.order_id)
    sent: list[Any] = []
    monkeypatch.setattr("urllib.request.urlopen", lambda request, timeout: sent.append(request) or _Answer())
    sim.oms_url = "http://oms.test"
    assert sim.send("tokopedia", push)["status"] == 200
    raw = sent[0].data
    key, secret_ = DEFAULTS["OMS_TIKTOK_APP_KEY"], DEFAULTS["OMS_TIKTOK_APP_SECRET"]
    assert sent[0].full_url == "http://oms.test/webhooks/tiktok"
    assert sent[0].get_header("Authorization") == hmac.new(secret_.encode(), key.encode() + raw, "sha256").hexdigest()
    # The seller ships it with its own courier through the TikTok package call, as a TikTok order
    package = answer["data"]["orders"][0]["packages"][0]["id"]
    shipped = {"self_shipment": {"tracking_number": "JNE0001", "shipping_provider_id": "1"}}
    kopi_api.call("POST", f"/fulfillment/202309/packages/{package}/ship", {}, shipped)
    assert (sim.get("tokopedia", tokopedia.order_id).status, sim.get("tiktok", tiktok_order.order_id).status) == (
        "IN_TRANSIT",
        "AWAITING_SHIPMENT",
    )


def test_tokopedia_has_no_api_of_its_own(sim):
    assert sim.serve("tokopedia", "POST", "/token", {}, b"", {}) is None
    assert sim.serve("tokopedia", "GET", "/v2/fs/15001/order", {"order_id": "1"}, b"", {}) is None
    with pytest.raises(ValueError, match="7494049642642441699"):  # its shops are TikTok shops
        sim.create({"channel": "tokopedia", "lines": LINES, "shop_id": "7494049642642441699"})


class _Answer:
    status = 200

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    @staticmethod
    def read() -> bytes:
        return b""


# --- the seed --------------------------------------------------------------------------------------------


class FakeRuntime:
    """What seed_demo asks of the local runtime, over moto in process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.template = self

    def functions(self) -> dict[str, Any]:
        return {"IngestionApiFunction": None}

    def env_for(self, _function: str) -> dict[str, str]:
        return self.env

    def table_name(self, _logical_id: str) -> str:
        return self.env["INVENTORY_TABLE"]

    @staticmethod
    def client(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRuntime]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in DEFAULTS:  # the documented defaults, whatever this shell sets
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        dynamodb = FakeRuntime.client("dynamodb")
        tables = {"CATALOG_TABLE": {"pk": "HASH"}, "INVENTORY_TABLE": {"pk": "HASH", "sk": "RANGE"},
                  "API_KEYS_TABLE": {"key_hash": "HASH"}}  # fmt: skip
        for name, keys in tables.items():
            dynamodb.create_table(
                TableName=name.lower(),
                KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys.items()],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        yield FakeRuntime({**{name: name.lower() for name in tables}, "SECRETS_PATH": "/oms/local/channels"})


def shop_rows(runtime: FakeRuntime) -> dict[str, Shop]:
    items = runtime.client("dynamodb").scan(TableName=runtime.env["CATALOG_TABLE"])["Items"]
    return {item["pk"]["S"]: Shop.model_validate_json(item["doc"]["S"]) for item in items if "doc" in item}


def secret(runtime: FakeRuntime, name: str) -> str:
    parameter = runtime.client("ssm").get_parameter(Name=f"/oms/local/channels/{name}", WithDecryption=True)
    return parameter["Parameter"]["Value"]


def test_the_seed_registers_the_four_shops_with_their_tokens(aws):
    seed.seed_demo(aws, fresh=True, demo=True)
    rows = shop_rows(aws)
    assert set(rows) == {
        "SHOP#shopee#880011", "SHOP#shopee#880022",
        "SHOP#tiktok#7494049642642441621", "SHOP#tiktok#7494049642642441622",
    }  # fmt: skip
    outlet, kopi = rows["SHOP#shopee#880022"], rows["SHOP#tiktok#7494049642642441622"]
    assert (outlet.name, outlet.shop_cipher, outlet.enabled, outlet.nodes, outlet.stock_push, outlet.version) == (
        "Batik Nusantara Outlet",
        None,
        True,
        None,
        True,
        1,
    )
    assert (kopi.name, kopi.shop_cipher) == ("Kopi Nusantara", "ROW_local_shop_cipher_2")
    assert rows["SHOP#tiktok#7494049642642441621"].shop_cipher == DEFAULTS["OMS_TIKTOK_SHOP_CIPHER"]
    assert outlet.created_at == outlet.updated_at == seed.SHOPS_SINCE  # fixed, not the clock
    # The registry's conditional writes find the version beside the document
    item = aws.client("dynamodb").get_item(TableName="catalog_table", Key={"pk": {"S": "SHOP#shopee#880022"}})
    assert item["Item"]["version"] == {"N": "1"}
    # Each shop's tokens, as SecureStrings under its channel; the default shops' are the channel-level ones
    assert secret(aws, "shopee/shops/880011/access_token") == DEFAULTS["OMS_SHOPEE_ACCESS_TOKEN"]
    assert secret(aws, "shopee/shops/880011/access_token") == secret(aws, "shopee/access_token")
    assert secret(aws, "shopee/shops/880022/refresh_token") == "shopee_local_refresh_token_880022"
    assert secret(aws, "tiktok/shops/7494049642642441621/refresh_token") == DEFAULTS["OMS_TIKTOK_REFRESH_TOKEN"]
    assert secret(aws, "tiktok/shops/7494049642642441622/access_token") == "tiktok_local_access_token_2"
    kind = aws.client("ssm").get_parameter(Name="/oms/local/channels/tiktok/shops/7494049642642441622/access_token")
    assert kind["Parameter"]["Type"] == "SecureString"


def test_access_tokens_run_out_as_each_marketplaces_do(aws):
    seed.seed_shop_secrets(aws.client, "/oms/local/channels", now=NOW)
    assert secret(aws, "shopee/shops/880022/access_token_expires_at") == str(NOW + 4 * 3600)
    assert secret(aws, "tiktok/shops/7494049642642441622/access_token_expires_at") == str(NOW + 7 * 86400)


def test_a_second_seed_keeps_what_changed_since(aws):
    seed.seed_demo(aws, fresh=True, demo=True)
    # Given a renewed token and a renamed shop
    aws.client("ssm").put_parameter(
        Name="/oms/local/channels/shopee/shops/880022/access_token", Value="renewed", Type="SecureString",
        Overwrite=True,
    )  # fmt: skip
    renamed = shop_rows(aws)["SHOP#shopee#880022"].model_copy(update={"name": "Outlet Lama", "version": 2})
    aws.client("dynamodb").put_item(
        TableName="catalog_table",
        Item={"pk": {"S": "SHOP#shopee#880022"}, "doc": {"S": renamed.model_dump_json()}, "version": {"N": "2"}},
    )
    # When the seed runs again: a restart, and a seed of new state over it
    seed.seed_demo(aws, fresh=False, demo=True)
    seed.seed_shop_rows(aws.client, "catalog_table")
    seed.seed_shop_secrets(aws.client, "/oms/local/channels")
    # Then both stand
    assert secret(aws, "shopee/shops/880022/access_token") == "renewed"
    assert shop_rows(aws)["SHOP#shopee#880022"].name == "Outlet Lama"
    assert len(shop_rows(aws)) == 4


def test_without_demo_data_no_shop_is_seeded(aws):
    seed.seed_demo(aws, fresh=True, demo=False)
    assert shop_rows(aws) == {}
    names = aws.client("ssm").get_parameters_by_path(Path="/oms/local/channels/shopee/shops", Recursive=True)
    assert names["Parameters"] == []


def test_the_settings_name_the_default_shops():
    # The channel-level settings are each channel's first shop, in the seed and in the simulator alike
    env = {"OMS_SHOPEE_ACCESS_TOKEN": "mine", "OMS_TIKTOK_SHOP_CIPHER": "ROW_mine"}
    shops = seed.shops(env)
    assert [shop["shop_id"] for shop in shops] == [shop["shop_id"] for shop in SHOPS]
    assert demo_shop("shopee", OUTLET)["access_token"] == "shopee_local_access_token_880022"
    assert shops[0]["access_token"] == "mine" and shops[2]["shop_cipher"] == "ROW_mine"
    sim = MarketplaceSim({**DEFAULTS, **env})
    order = sim.create({"channel": "tiktok", "lines": LINES})
    assert tiktok_detail(tiktok(sim, BATIK, shop_cipher="ROW_mine"), order.order_id) == [order.order_id]
    # A setting naming the outlet makes it the default shop, listed once
    moved = seed.shops({"OMS_SHOPEE_SHOP_ID": OUTLET})
    assert [shop["shop_id"] for shop in moved if shop["channel"] == "shopee"] == [OUTLET]
