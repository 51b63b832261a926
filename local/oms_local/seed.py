"""What `make run` puts in the embedded AWS: channel secrets and the ops API
key on every start (from the environment, with the documented defaults), the
demo shops' tokens when SSM lacks them, and demo data (nodes, SKUs, stock per
SKU and node, the shop registry's rows) when the state is new and SEED is not 0."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms.adapters.dynamo import to_item
from oms.domain.apikeys import new_key
from oms.models.apikey import Role
from oms.models.order import Channel
from oms.models.shops import Shop

ClientFactory = Callable[[str], Any]

# Local settings and their defaults (README "Local settings"). In AWS the
# secrets live in SSM Parameter Store under /oms/<stage>/channels.
DEFAULTS = {
    "OMS_API_KEY": "oms_local_ops_key",
    "OMS_SHOPIFY_SECRET": "shpss_local_dev_secret",
    "OMS_WOOCOMMERCE_SECRET": "wc_local_dev_secret",
    "OMS_SHOPEE_PARTNER_ID": "2001887",
    "OMS_SHOPEE_PARTNER_KEY": "shopee_local_dev_partner_key",
    "OMS_SHOPEE_CALLBACK_URL": "http://127.0.0.1:3000/webhooks/shopee",
    "OMS_LAZADA_APP_KEY": "100101",
    "OMS_LAZADA_APP_SECRET": "lazada_local_dev_secret",
    "OMS_TIKTOK_APP_KEY": "tts_local_app",
    "OMS_TIKTOK_APP_SECRET": "tiktok_local_dev_secret",
    # What the OMS needs to call the marketplaces' APIs (in production: from each channel's shop authorization).
    "OMS_SHOPEE_SHOP_ID": "880011",
    "OMS_SHOPEE_ACCESS_TOKEN": "shopee_local_access_token",
    "OMS_SHOPEE_REFRESH_TOKEN": "shopee_local_refresh_token",
    "OMS_LAZADA_ACCESS_TOKEN": "lazada_local_access_token",
    "OMS_LAZADA_REFRESH_TOKEN": "lazada_local_refresh_token",
    "OMS_TIKTOK_ACCESS_TOKEN": "tiktok_local_access_token",
    "OMS_TIKTOK_REFRESH_TOKEN": "tiktok_local_refresh_token",
    "OMS_TIKTOK_SHOP_CIPHER": "ROW_local_shop_cipher",
    # Carriers: Biteship's dashboard header (name and value); the Standard Webhooks secret of other carriers.
    "OMS_BITESHIP_HEADER": "x-biteship-secret",
    "OMS_BITESHIP_SECRET": "biteship_local_dev_secret",
    # Biteship's API key, for booking own-courier shipments (the simulator takes any non-empty one).
    "OMS_BITESHIP_API_KEY": "biteship_local_test_key",
    "OMS_CARRIER_SECRET": "whsec_Y2Fycmllcl9sb2NhbF9kZXZfc2VjcmV0XzMyYnl0ZXM=",
    # The payment provider's secret API key, for refunds (the simulator takes any).
    "OMS_PAYMENTS_SECRET_KEY": "xnd_development_local_key",
    # The key buyer tracking's counters hash client addresses with (HMAC): no address is stored.
    "OMS_TRACKING_HASH_KEY": "tracking_local_hash_key",
}

# SSM parameter (under the channels path) for each setting.
SECRET_PARAMETERS = {
    "OMS_SHOPIFY_SECRET": "shopify/secret",
    "OMS_WOOCOMMERCE_SECRET": "woocommerce/secret",
    "OMS_SHOPEE_PARTNER_ID": "shopee/partner_id",
    "OMS_SHOPEE_PARTNER_KEY": "shopee/partner_key",
    "OMS_SHOPEE_CALLBACK_URL": "shopee/callback_url",
    "OMS_LAZADA_APP_KEY": "lazada/app_key",
    "OMS_LAZADA_APP_SECRET": "lazada/app_secret",
    "OMS_TIKTOK_APP_KEY": "tiktok/app_key",
    "OMS_TIKTOK_APP_SECRET": "tiktok/app_secret",
    "OMS_SHOPEE_SHOP_ID": "shopee/shop_id",
    "OMS_SHOPEE_ACCESS_TOKEN": "shopee/access_token",
    "OMS_SHOPEE_REFRESH_TOKEN": "shopee/refresh_token",
    "OMS_LAZADA_ACCESS_TOKEN": "lazada/access_token",
    "OMS_LAZADA_REFRESH_TOKEN": "lazada/refresh_token",
    "OMS_TIKTOK_ACCESS_TOKEN": "tiktok/access_token",
    "OMS_TIKTOK_REFRESH_TOKEN": "tiktok/refresh_token",
    "OMS_TIKTOK_SHOP_CIPHER": "tiktok/shop_cipher",
    "OMS_BITESHIP_HEADER": "biteship/header_name",
    "OMS_BITESHIP_SECRET": "biteship/header_secret",
    "OMS_BITESHIP_API_KEY": "biteship/api_key",
    "OMS_CARRIER_SECRET": "carriers/secret",
    "OMS_PAYMENTS_SECRET_KEY": "payments/secret_key",
    "OMS_TRACKING_HASH_KEY": "tracking/hash_key",
}

# The demo seller's shops, several per marketplace (the shop registry's rows, SHOP#<channel>#<shop id>).
# Each channel's FIRST shop is its default shop: the channel-level settings above are its credentials
# (see shops()), so a deployment without the registry and one with it call the same shop.
SHOPS = [
    {"channel": "shopee", "shop_id": DEFAULTS["OMS_SHOPEE_SHOP_ID"], "name": "Batik Nusantara Official",
     "shop_cipher": None, "access_token": DEFAULTS["OMS_SHOPEE_ACCESS_TOKEN"],
     "refresh_token": DEFAULTS["OMS_SHOPEE_REFRESH_TOKEN"]},
    {"channel": "shopee", "shop_id": "880022", "name": "Batik Nusantara Outlet", "shop_cipher": None,
     "access_token": "shopee_local_access_token_880022", "refresh_token": "shopee_local_refresh_token_880022"},
    {"channel": "tiktok", "shop_id": "7494049642642441621", "name": "Batik Nusantara",
     "shop_cipher": DEFAULTS["OMS_TIKTOK_SHOP_CIPHER"], "access_token": DEFAULTS["OMS_TIKTOK_ACCESS_TOKEN"],
     "refresh_token": DEFAULTS["OMS_TIKTOK_REFRESH_TOKEN"]},
    {"channel": "tiktok", "shop_id": "7494049642642441622", "name": "Kopi Nusantara",
     "shop_cipher": "ROW_local_shop_cipher_2", "access_token": "tiktok_local_access_token_2",
     "refresh_token": "tiktok_local_refresh_token_2"},
]  # fmt: skip
# The settings that are a channel's default shop (its first in SHOPS): what they name wins over SHOPS.
DEFAULT_SHOP_SETTINGS = {
    "shopee": {"shop_id": "OMS_SHOPEE_SHOP_ID", "access_token": "OMS_SHOPEE_ACCESS_TOKEN",
               "refresh_token": "OMS_SHOPEE_REFRESH_TOKEN"},
    "tiktok": {"shop_cipher": "OMS_TIKTOK_SHOP_CIPHER", "access_token": "OMS_TIKTOK_ACCESS_TOKEN",
               "refresh_token": "OMS_TIKTOK_REFRESH_TOKEN"},
}  # fmt: skip
# How long a marketplace's access token lasts from when it was issued (Shopee: 4 hours, TikTok Shop: 7 days).
TOKEN_LIFETIME_S = {"shopee": 4 * 3600, "tiktok": 7 * 86400}
SHOPS_SINCE = datetime(2026, 1, 1, tzinfo=UTC)  # the demo shops' created_at / updated_at: fixed, not the clock

# A demo fashion-and-food retailer: two DCs and four stores across three time zones.
NODES = [
    {
        "node_id": "DC-CKG",
        "name": "DC Cikarang",
        "kind": "dc",
        "address": "Jl. Jababeka Raya Blok F No. 12, Cikarang Utara",
        "phone": "+62218934567",
        "postal_code": "17530",
        "city": "Bekasi",
        "province": "Jawa Barat",
        "tz": "Asia/Jakarta",
        "lat": Decimal("-6.2615"),
        "lng": Decimal("107.1526"),
    },
    {
        "node_id": "DC-SBY",
        "name": "DC Surabaya",
        "kind": "dc",
        "address": "Jl. Rungkut Industri III No. 45, Rungkut",
        "phone": "+62318412345",
        "postal_code": "60293",
        "city": "Surabaya",
        "province": "Jawa Timur",
        "tz": "Asia/Jakarta",
        "lat": Decimal("-7.2575"),
        "lng": Decimal("112.7521"),
    },
    {
        "node_id": "ST-JKT-GI",
        "name": "Toko Grand Indonesia",
        "kind": "store",
        "city": "Jakarta Pusat",
        "province": "DKI Jakarta",
        "tz": "Asia/Jakarta",
        "lat": Decimal("-6.1951"),
        "lng": Decimal("106.8209"),
    },
    {
        "node_id": "ST-BDG-PVJ",
        "name": "Toko Paris Van Java",
        "kind": "store",
        "city": "Bandung",
        "province": "Jawa Barat",
        "tz": "Asia/Jakarta",
        "lat": Decimal("-6.8889"),
        "lng": Decimal("107.5963"),
    },
    {
        "node_id": "ST-DPS-BC",
        "name": "Toko Beachwalk Kuta",
        "kind": "store",
        "city": "Badung",
        "province": "Bali",
        "tz": "Asia/Makassar",
        "lat": Decimal("-8.7177"),
        "lng": Decimal("115.1688"),
    },
    {
        "node_id": "ST-MKS-TP",
        "name": "Toko Trans Studio Makassar",
        "kind": "store",
        "city": "Makassar",
        "province": "Sulawesi Selatan",
        "tz": "Asia/Makassar",
        "lat": Decimal("-5.1566"),
        "lng": Decimal("119.3938"),
        "restocks_returns": False,  # takes returns in, sends the resellable ones on to a DC
    },
]

SKUS = [
    ("BTK-PRG-L", "Kemeja Batik Parang L", "fashion", 250, "450000"),
    ("BTK-PRG-M", "Kemeja Batik Parang M", "fashion", 240, "450000"),
    ("KRD-VOAL-SAGE", "Kerudung Voal Motif Sage", "fashion", 120, "129000"),
    ("KRD-VOAL-NAVY", "Kerudung Voal Motif Navy", "fashion", 120, "129000"),
    ("TSHIRT-BLK-M", "Kaos Hitam M", "fashion", 180, "149000"),
    ("CAP-NAVY", "Topi Navy", "fashion", 100, "89000"),
    ("KOP-GAYO-250", "Kopi Gayo Arabika 250g", "food", 280, "95000"),
    ("KOP-TORAJA-250", "Kopi Toraja 250g", "food", 280, "105000"),
    ("SMB-BWG-200", "Sambal Bawang 200g", "food", 260, "35000"),
    ("TEH-TUBRUK-100", "Teh Tubruk 100g", "food", 120, "25000"),
    ("TAS-ROTAN-S", "Tas Rotan Bali Kecil", "craft", 400, "275000"),
    ("SDL-KULIT-42", "Sandal Kulit 42", "fashion", 600, "320000"),
]

# Vendor returns: defective units of these SKUs go back to their maker.
SUPPLIERS = {"TAS-ROTAN-S": "SUP-ROTAN-BALI", "SDL-KULIT-42": "SUP-KULIT-GARUT"}


def setting(name: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(name) or DEFAULTS[name]


def local_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every local setting, with its default (the channel simulator shares them with the OMS)."""
    return {name: setting(name, environ) for name in DEFAULTS}


def shops(environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """SHOPS as this environment has them: each channel's first shop takes the channel-level settings
    (OMS_SHOPEE_SHOP_ID and tokens, OMS_TIKTOK_SHOP_CIPHER and tokens). The channel simulator accepts
    exactly these shops and tokens (plus the ones its refresh calls issue)."""
    found: list[dict[str, Any]] = []
    defaults: dict[str, dict[str, Any]] = {}
    for shop in SHOPS:
        channel = shop["channel"]
        if channel not in defaults:
            names = DEFAULT_SHOP_SETTINGS.get(channel, {})
            defaults[channel] = {**shop, **{field: setting(name, environ) for field, name in names.items()}}
            found.append(defaults[channel])
        elif shop["shop_id"] != defaults[channel]["shop_id"]:  # a setting may name another demo shop
            found.append(dict(shop))
    return found


def configure(client: ClientFactory, secrets_path: str, api_keys_table: str) -> dict[str, str]:
    """Every start: channel secrets and the ops key, from the environment."""
    ssm = client("ssm")
    for env_name, parameter in SECRET_PARAMETERS.items():
        ssm.put_parameter(
            Name=f"{secrets_path.rstrip('/')}/{parameter}", Value=setting(env_name), Type="SecureString", Overwrite=True
        )
    now = datetime.now(UTC)
    ops_key, ops_record = new_key("local ops", [Role.ops], now, key=setting("OMS_API_KEY"))
    cs_key, cs_record = new_key("local customer service", [Role.cs], now, key=setting("OMS_API_KEY") + "_cs")
    pos_key, pos_record = new_key(
        "local POS", [Role.channel], now, channels=[Channel.pos, Channel.web], key=setting("OMS_API_KEY") + "_pos"
    )
    wms_key, wms_record = new_key("local WMS and store apps", [Role.node], now, key=setting("OMS_API_KEY") + "_wms")
    dynamodb = client("dynamodb")
    for record in (ops_record, cs_record, pos_record, wms_record):
        dynamodb.put_item(TableName=api_keys_table, Item=to_item(record.model_dump(mode="json")))
    return {"ops API key": ops_key, "cs API key": cs_key, "pos/web API key": pos_key, "node (WMS) API key": wms_key}


# Stores serve pickup and are offered for a SKU only with 2 or more units; DCs keep safety stock.
# Sourcing costs: a DC packs a parcel for Rp 2,500 (+300 a unit), a store for Rp 6,000 (+800);
# stores hand over within 4 hours and take a bounded number of online orders a day.
NODE_SETTINGS = {
    "dc": {
        "may_ship": True,
        "may_pickup": False,
        "routing_threshold": 0,
        "default_safety_stock": 5,
        "handling_cost": "2500",
        "handling_cost_per_unit": "300",
        "lead_time_hours": 24,
        # Shipped-back returns go to the nearest DC, which inspects and restocks them.
        "accepts_returns": True,
        "return_center": True,
    },
    "store": {
        "may_ship": True,
        "may_pickup": True,
        "routing_threshold": 2,
        "default_safety_stock": 1,
        "snapshot_mode": "reconcile",
        "reconcile_max_units": 5,
        "handling_cost": "6000",
        "handling_cost_per_unit": "800",
        "lead_time_hours": 4,
        "daily_capacity": {"ship": 40, "pickup": 60, "same_day": 20},
        "accepts_returns": True,  # buyers drop returns off at any store
    },
}
SAME_DAY_STORES = {"ST-JKT-GI", "ST-DPS-BC"}  # riders collect here

# Which nodes each channel sells from, and how much of their stock it is shown.
DC_IDS = [node["node_id"] for node in NODES if node["kind"] == "dc"]
STOCK_POLICIES = {
    "web": {"allocation": "none", "low_threshold": 5, "push": "off"},  # the web store reads /availability
    "pos": {"allocation": "none", "low_threshold": 2, "push": "off"},
    "shopify": {"allocation": "protect_store", "value": 2, "low_threshold": 5},
    "shopee": {"nodes": DC_IDS, "allocation": "buffer", "value": 3, "low_threshold": 5},
    "tokopedia": {"nodes": DC_IDS, "allocation": "cap_pct", "value": 80, "low_threshold": 5},
    "lazada": {"nodes": DC_IDS, "allocation": "cap_pct", "value": 50, "low_threshold": 5},
    "tiktok": {"nodes": DC_IDS, "allocation": "buffer", "value": 5, "low_threshold": 10},
}


def seed_catalog(client: ClientFactory, catalog_table: str) -> dict[str, str]:
    """New state only: demo nodes, SKUs and channel stock policies."""
    dynamodb = client("dynamodb")
    for node in NODES:
        same_day = node["node_id"] in SAME_DAY_STORES
        item = {
            "pk": f"NODE#{node['node_id']}",
            "enabled": True,
            "may_same_day": same_day,
            **NODE_SETTINGS[node["kind"]],
            **node,
        }
        dynamodb.put_item(TableName=catalog_table, Item=to_item(item))
    for channel, policy in STOCK_POLICIES.items():
        body = json.dumps({"channel": channel, **policy})
        dynamodb.put_item(TableName=catalog_table, Item=to_item({"pk": f"CHANNEL#{channel}", "policy": body}))
    for sku, name, category, grams, price in SKUS:
        item = {
            "pk": f"SKU#{sku}",
            "sku": sku,
            "name": name,
            "category": category,
            "weight_g": grams,
            "list_price": Decimal(price),
            "currency": "IDR",
        }
        if sku in SUPPLIERS:
            item["supplier"] = SUPPLIERS[sku]
        dynamodb.put_item(TableName=catalog_table, Item=to_item(item))
    return {"demo data": f"{len(NODES)} nodes, {len(SKUS)} SKUs"}


def seed_shop_rows(client: ClientFactory, catalog_table: str) -> dict[str, str]:
    """New state only: the demo shops' registry rows (the Shop model's JSON in `doc`, its version beside it
    for the registry's conditional writes); a row already there is kept."""
    dynamodb = client("dynamodb")
    demo, written = shops(), 0
    for shop in demo:
        row = Shop(channel=shop["channel"], shop_id=shop["shop_id"], name=shop["name"],
                   shop_cipher=shop["shop_cipher"], enabled=True, nodes=None, stock_push=True,
                   created_at=SHOPS_SINCE, updated_at=SHOPS_SINCE, version=1)  # fmt: skip
        item = {
            "pk": {"S": f"SHOP#{row.channel.value}#{row.shop_id}"},
            "doc": {"S": row.model_dump_json()},
            "version": {"N": str(row.version)},
        }
        try:
            dynamodb.put_item(TableName=catalog_table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            written += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # there already (seeded before, or changed through the API): it stands
    return {"demo shops": f"{written} of {len(demo)} registered"}


def seed_shop_secrets(client: ClientFactory, secrets_path: str, now: float | None = None) -> dict[str, str]:
    """Every start unless SEED=0: each demo shop's tokens (<channel>/shops/<shop id>/...) where SSM has
    none. The data dir keeps DynamoDB and SQS but not SSM, so after a restart a kept shop row gets its
    demo tokens back (which the restarted simulator accepts); a value written since (a renewal, PATCH
    /shops) stands while this SSM lives."""
    ssm = client("ssm")
    issued = int(time.time() if now is None else now)
    written = 0
    for shop in shops():
        base = f"{secrets_path.rstrip('/')}/{shop['channel']}/shops/{shop['shop_id']}"
        values = {
            "access_token": shop["access_token"],
            "refresh_token": shop["refresh_token"],
            "access_token_expires_at": str(issued + TOKEN_LIFETIME_S[shop["channel"]]),
        }
        for name, value in values.items():
            try:
                ssm.put_parameter(Name=f"{base}/{name}", Value=value, Type="SecureString", Overwrite=False)
                written += 1
            except ssm.exceptions.ParameterAlreadyExists:
                pass
    return {"demo shop tokens": f"{written} parameters set"}


def stock_levels() -> list[dict[str, Any]]:
    """Deterministic demo stock: DCs hold most of it, stores a few units, some none."""
    levels = []
    for rank, (sku, *_rest) in enumerate(SKUS):
        for index, node in enumerate(NODES):
            if node["kind"] == "dc":
                on_hand, safety = 60 + (rank * 37 + index * 53) % 240, 5
            else:
                on_hand, safety = (rank * 7 + index * 3) % 13, 1
            levels.append(
                {
                    "pk": f"SKU#{sku}",
                    "sk": f"NODE#{node['node_id']}",
                    "sku": sku,
                    "node_id": node["node_id"],
                    "node_key": node["node_id"],
                    "bucket": 0,
                    "on_hand": on_hand,
                    "reserved": 0,
                    "safety_stock": safety,
                    "atp": on_hand - safety,
                    "updated_at": "2026-01-01T00:00:00.000Z",
                }
            )
    return levels


def seed_stock(client: ClientFactory, inventory_table: str) -> dict[str, str]:
    """New state only: stock per (sku, node)."""
    levels = stock_levels()
    dynamodb = client("dynamodb")
    for start in range(0, len(levels), 25):
        batch = [{"PutRequest": {"Item": to_item(level)}} for level in levels[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={inventory_table: batch})
    units = sum(level["on_hand"] for level in levels)
    return {"demo stock": f"{units} units in {len(levels)} (sku, node) pairs"}


def seed_demo(runtime: Any, fresh: bool = True, demo: bool = True) -> dict[str, str]:
    """Called by the local runtime at every start."""
    if "IngestionApiFunction" not in runtime.template.functions():
        return {}  # another template (the runtime's own tests)
    env = runtime.env_for("IngestionApiFunction")
    client = runtime.client
    lines = configure(client, env["SECRETS_PATH"], env["API_KEYS_TABLE"])
    if demo:  # every start, as SSM starts empty each time
        lines.update(seed_shop_secrets(client, env["SECRETS_PATH"]))
    if fresh and demo:
        lines.update(seed_catalog(client, env["CATALOG_TABLE"]))
        lines.update(seed_shop_rows(client, env["CATALOG_TABLE"]))
        lines.update(seed_stock(client, runtime.table_name("InventoryTable")))
    return lines
