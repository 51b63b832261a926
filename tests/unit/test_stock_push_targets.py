"""Which shops of a marketplace the stock push tells (MarketplaceApi.stock_targets), and each one's policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oms.adapters.marketplace_api import MarketplaceApi
from oms.domain.stock_push import StockTarget
from oms.errors import DependencyError
from oms.models.inventory import AllocationKind, PushMode, StockPolicy
from oms.models.order import Channel
from oms.models.shops import Shop
from tests.fakes import FakeSecrets

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BASES = {Channel.shopee: "http://shopee.invalid", Channel.lazada: "http://lazada.invalid", Channel.tiktok: "http://tt"}
CHANNEL_LEVEL = {"shopee/shop_id": "880011", "tiktok/shop_cipher": "ROW_1"}


def shop(shop_id: str, channel: str = "shopee", **settings: object) -> Shop:
    return Shop(channel=channel, shop_id=shop_id, name=f"Shop {shop_id}", created_at=NOW, updated_at=NOW, **settings)


def api(*registered: Shop) -> MarketplaceApi:
    return MarketplaceApi(BASES, FakeSecrets(dict(CHANNEL_LEVEL)), shops=lambda: list(registered))


def keys(targets: list[StockTarget]) -> list[tuple[str, str | None]]:
    return [(t.key, t.off) for t in targets]


def test_a_channel_without_registered_shops_has_its_channel_level_shop() -> None:
    assert keys(api().stock_targets(Channel.shopee)) == [("shopee", None)]
    assert keys(api(shop("880022")).stock_targets(Channel.lazada)) == [("lazada", None)]


def test_registered_shops_are_targets_and_the_channel_level_one_is_added_only_when_not_registered() -> None:
    outlet = shop("880022", nodes=["DC-SBY"])
    assert keys(api(outlet).stock_targets(Channel.shopee)) == [("shopee", None), ("shopee#880022", None)]
    official = shop("880011")
    assert keys(api(outlet, official).stock_targets(Channel.shopee)) == [
        ("shopee#880011", None),
        ("shopee#880022", None),
    ]
    targets = api(outlet).stock_targets(Channel.shopee)
    assert targets[1].nodes == ("DC-SBY",) and targets[0].nodes is None
    # TikTok Shop's channel-level shop is known by its cipher
    batik = shop("7494049642642441621", "tiktok", shop_cipher="ROW_1")
    assert keys(api(batik).stock_targets(Channel.tiktok)) == [("tiktok#7494049642642441621", None)]
    assert api(batik).stock_targets(Channel.tokopedia) == []  # its stock is the TikTok shop's


def test_a_disabled_or_push_off_shop_is_listed_with_why_and_a_disabled_channel_level_shop_is_not_reached() -> None:
    official = shop("880011", enabled=False)
    quiet = shop("880033", stock_push=False)
    assert keys(api(official, quiet).stock_targets(Channel.shopee)) == [
        ("shopee#880011", "shop Shop 880011 is disabled"),
        ("shopee#880033", "shop Shop 880033's stock push is off"),
    ]  # no "shopee" target: its channel-level credentials would reach the disabled shop


def test_a_shop_the_oms_cannot_call_fails_as_a_dependency() -> None:
    with pytest.raises(DependencyError, match="shopee shop 880099 stock"):
        api(shop("880022")).push_stock(Channel.shopee, [], "880099")  # not registered
    with pytest.raises(DependencyError, match="disabled"):
        api(shop("880022", enabled=False)).push_stock(Channel.shopee, [], "880022")


def test_a_shops_node_binding_replaces_only_the_policys_nodes() -> None:
    policy = StockPolicy(nodes=["DC-CKG", "DC-SBY"], allocation=AllocationKind.buffer, value=3, push=PushMode.level)
    bound = StockTarget(Channel.shopee, "880022", nodes=("DC-SBY",)).policy(policy)
    assert bound.nodes == ["DC-SBY"]
    assert (bound.allocation, bound.value, bound.low_threshold, bound.push) == (
        AllocationKind.buffer, 3, policy.low_threshold, PushMode.level
    )  # fmt: skip
    assert StockTarget(Channel.shopee, "880033").policy(policy) is policy
