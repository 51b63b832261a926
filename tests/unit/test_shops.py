"""Shops: connecting one (its tokens kept per shop), how each stands, and a marketplace client per shop
that reads that shop's tokens (and nothing else changes for the channel's default shop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms.adapters.marketplace_api import MarketplaceApi
from oms.adapters.shops import ShopSecrets
from oms.domain.channel_sync import ShopNotConnected
from oms.domain.shops import ShopService
from oms.errors import Conflict, NotFound
from oms.models.common import Channel
from oms.models.shops import Shop, ShopCreate, ShopState, ShopUpdate

NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


class FakeSecrets:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})

    def channel_secret(self, channel: str, name: str) -> str | None:
        return self.values.get(f"{channel}/{name}")

    def put(self, channel: str, name: str, value: str) -> None:
        self.values[f"{channel}/{name}"] = value


class FakeShops:
    def __init__(self) -> None:
        self.rows: dict[tuple[Channel, str], Shop] = {}

    def shops(self) -> list[Shop]:
        return list(self.rows.values())

    def get(self, channel: Channel, shop_id: str) -> Shop | None:
        return self.rows.get((channel, shop_id))

    def put(self, shop: Shop, expected_version: int | None) -> None:
        current = self.rows.get((shop.channel, shop.shop_id))
        if (expected_version is None and current) or (expected_version and current.version != expected_version):
            raise Conflict("changed")
        self.rows[(shop.channel, shop.shop_id)] = shop


def a_shop(shop_id: str = "880022", **credentials: object) -> ShopCreate:
    creds = {"access_token": f"token-{shop_id}", "refresh_token": f"refresh-{shop_id}",
             "access_token_expires_at": NOW + timedelta(hours=4), **credentials}  # fmt: skip
    return ShopCreate(channel="shopee", shop_id=shop_id, name="Batik Nusantara Outlet", credentials=creds)


def service() -> tuple[ShopService, FakeShops, FakeSecrets]:
    shops, secrets = FakeShops(), FakeSecrets()
    return ShopService(shops, secrets, lambda: NOW), shops, secrets


def test_connecting_a_shop_keeps_its_tokens_under_the_shop_and_shows_it_connected() -> None:
    shops_service, _, secrets = service()
    view = shops_service.create(a_shop())
    assert (view.state, view.version) == (ShopState.connected, 1)
    assert secrets.values["shopee/shops/880022/access_token"] == "token-880022"
    expires = str(int((NOW + timedelta(hours=4)).timestamp()))
    assert secrets.values["shopee/shops/880022/access_token_expires_at"] == expires
    assert "token-880022" not in view.model_dump_json() and view.access_token_expires_at == NOW + timedelta(hours=4)
    with pytest.raises(Conflict):
        shops_service.create(a_shop())


def test_a_shop_is_expiring_or_disconnected_before_its_calls_fail() -> None:
    shops_service, _, secrets = service()
    shops_service.create(a_shop("1", refresh_token_expires_at=NOW + timedelta(hours=20)))
    shops_service.create(a_shop("2", access_token_expires_at=NOW - timedelta(minutes=1)))
    del secrets.values["shopee/shops/1/refresh_token"]
    shops_service.create(a_shop("3", access_token_expires_at=NOW + timedelta(hours=3)))
    del secrets.values["shopee/shops/3/refresh_token"]
    states = {v.shop_id: (v.state, v.reason) for v in shops_service.list()}
    assert states["1"][0] is ShopState.expiring and "refresh token runs out" in states["1"][1]
    assert states["2"][0] is ShopState.disconnected and "ran out" in states["2"][1]
    assert states["3"][0] is ShopState.expiring and "no refresh token" in states["3"][1]


def test_changing_a_shop_needs_the_version_read() -> None:
    shops_service, _, secrets = service()
    shops_service.create(a_shop())
    body = ShopUpdate(name="Outlet", version=1, stock_push=False, credentials={"access_token": "new-token"})
    changed = shops_service.update(Channel.shopee, "880022", body)
    assert (changed.version, changed.name, changed.stock_push) == (2, "Outlet", False)
    assert secrets.values["shopee/shops/880022/access_token"] == "new-token"
    with pytest.raises(Conflict):
        shops_service.update(Channel.shopee, "880022", ShopUpdate(name="Old", version=1))
    with pytest.raises(NotFound):
        shops_service.get(Channel.shopee, "999")


def test_a_shops_view_of_the_secrets_gives_its_tokens_and_the_apps_keys() -> None:
    secrets = FakeSecrets({"tiktok/app_secret": "app", "tiktok/access_token": "default-token",
                           "tiktok/shops/7494/access_token": "shop-token"})  # fmt: skip
    shop = Shop(channel="tiktok", shop_id="7494", name="Kopi", shop_cipher="ROW_2", created_at=NOW, updated_at=NOW)
    view = ShopSecrets(secrets, shop)
    assert view.channel_secret("tiktok", "access_token") == "shop-token"
    assert view.channel_secret("tiktok", "app_secret") == "app"
    assert view.channel_secret("tiktok", "shop_cipher") == "ROW_2"
    assert view.channel_secret("tiktok", "shop_id") == "7494"
    view.put("tiktok", "refresh_token", "r2")
    assert secrets.values["tiktok/shops/7494/refresh_token"] == "r2"


def test_the_marketplace_client_is_the_shops_own_and_an_unknown_shop_is_not_connected() -> None:
    secrets = FakeSecrets({"shopee/shop_id": "880011", "shopee/access_token": "default",
                           "shopee/shops/880022/access_token": "outlet"})  # fmt: skip
    outlet = Shop(channel="shopee", shop_id="880022", name="Outlet", created_at=NOW, updated_at=NOW)
    api = MarketplaceApi({Channel.shopee: "http://127.0.0.1:9"}, secrets, shops=lambda: [outlet])
    default = api.client(Channel.shopee)
    assert api.client(Channel.shopee, "880011") is default  # the channel-level shop
    own = api.client(Channel.shopee, "880022")
    assert own is not default and own.secrets.channel_secret("shopee", "access_token") == "outlet"
    assert api.client(Channel.shopee, "880022") is own  # built once per shop version
    with pytest.raises(ShopNotConnected):
        api.client(Channel.shopee, "123456")
    disabled = outlet.model_copy(update={"enabled": False, "version": 2})
    api.shops = lambda: [disabled]
    with pytest.raises(ShopNotConnected):
        api.client(Channel.shopee, "880022")


def test_once_the_channels_own_shop_is_registered_its_calls_use_the_shops_tokens() -> None:
    secrets = FakeSecrets({"tiktok/shop_cipher": "ROW_1", "tiktok/access_token": "channel-level",
                           "tiktok/shops/7494/access_token": "shop-level"})  # fmt: skip
    own = Shop(channel="tiktok", shop_id="7494", name="Batik", shop_cipher="ROW_1", created_at=NOW, updated_at=NOW)
    api = MarketplaceApi({Channel.tiktok: "http://127.0.0.1:9"}, secrets, shops=lambda: [own])
    assert api.default_shop(Channel.tiktok) == own  # the same cipher: the channel's own shop
    assert api.client(Channel.tiktok).secrets.channel_secret("tiktok", "access_token") == "shop-level"


def test_a_tokopedia_shop_is_a_tiktok_shop_shop_and_its_calls_go_through_it() -> None:
    # Given Tokopedia's storefront served by a registered TikTok Shop shop
    with pytest.raises(ValueError, match="connect the shop as channel 'tiktok'"):
        ShopCreate(channel="tokopedia", shop_id="7494", name="Batik", credentials={"access_token": "abcd"})
    secrets = FakeSecrets({"tiktok/shop_cipher": "ROW_1", "tiktok/shops/7495/access_token": "second"})
    second = Shop(channel="tiktok", shop_id="7495", name="Batik 2", shop_cipher="ROW_2", created_at=NOW,
                  updated_at=NOW)  # fmt: skip
    api = MarketplaceApi({Channel.tiktok: "http://127.0.0.1:9", Channel.tokopedia: "http://closed"}, secrets,
                         shops=lambda: [second])  # fmt: skip
    # Then a Tokopedia order's calls use that shop's TikTok Shop client (the closed API's base is ignored)
    assert api.client(Channel.tokopedia, "7495") is api.client(Channel.tiktok, "7495")
    assert api.client(Channel.tokopedia) is api.client(Channel.tiktok)
    assert api.outbound(Channel.tokopedia, "7495") is api.outbound(Channel.tiktok, "7495")
    assert api.channels() == [Channel.tiktok]
    # And both shops are reconciled, each from its own cursor
    assert api.reconciled_shops(Channel.tiktok) == [None, "7495"]
