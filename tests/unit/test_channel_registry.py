"""The channel registry: one record per channel, each channel's code in its own package, imported lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from oms.channels.registry import API_CHANNELS, EMPTY_ANSWER, MARKETPLACES, REFRESHED, SPECS, WEBHOOK_CHANNELS, spec
from oms.errors import NormalizationError
from oms.models.order import Channel

ROOT = Path(__file__).resolve().parents[2]
WITH_PACKAGE = sorted(c for c, s in SPECS.items() if s.package and s.transport is None)


def test_every_channel_has_a_record():
    assert set(SPECS) == set(Channel)
    assert all(spec(channel).channel is channel for channel in Channel)


def test_the_derived_sets():
    # Given the registry's lines, when the sets are derived, then they are what CHANNELS.md says.
    assert {Channel.shopee, Channel.lazada, Channel.tiktok, Channel.tokopedia} == MARKETPLACES
    # Tokopedia's storefront rides on TikTok Shop's API: no webhook, tokens or reconciliation of its own.
    assert {Channel.shopee, Channel.lazada, Channel.tiktok} == API_CHANNELS
    assert API_CHANNELS | {Channel.shopify, Channel.woocommerce} == WEBHOOK_CHANNELS
    assert {Channel.shopee, Channel.tiktok, Channel.tokopedia} == EMPTY_ANSWER
    assert set(REFRESHED) == {Channel.shopee, Channel.lazada, Channel.tiktok}
    assert "shopee" in EMPTY_ANSWER  # the ingestion function asks with the path's string


@pytest.mark.parametrize("channel", WITH_PACKAGE)
def test_each_package_holds_what_the_registry_looks_for(channel):
    record = spec(channel)
    delivery = record.delivery()
    assert delivery.scheme.header == delivery.scheme.header.lower()
    if record.marketplace:
        assert callable(record.fetched_normalizer())
        assert record.states()
        assert record.state("no such status").value == "unknown"
        assert callable(record.module().notices)
        client = importlib.import_module(f"oms.adapters.marketplace_api.{record.package}")
        assert callable(client.connect) and callable(client.outbound)
        assert callable(getattr(client, "refresh_token", None)) is record.refreshed_token
    else:
        assert callable(record.push_normalizer())
        assert record.order_topics() >= record.create_topics()
        with pytest.raises(NormalizationError, match="not fetched from an API"):
            record.fetched_normalizer()


def test_tokopedia_is_carried_by_tiktok_shop():
    # Given Tokopedia's Open API closed (2025-09-30), its storefront's code and API are TikTok Shop's.
    record = spec(Channel.tokopedia)
    assert record.carrier is Channel.tiktok and spec(Channel.tiktok).carrier is Channel.tiktok
    assert record.marketplace and not record.has_webhook and not record.refreshed_token
    assert record.fetched_normalizer() is spec(Channel.tiktok).fetched_normalizer()
    assert record.state("AWAITING_SHIPMENT").value == "ready"
    assert record.state("220").value == "unknown"  # the closed API's numeric codes mean nothing now


def test_an_own_channel_has_no_normalizer():
    with pytest.raises(NormalizationError, match="no normalizer for channel 'pos'"):
        spec(Channel.pos).push_normalizer()
    assert spec(Channel.pos).order_topics() == frozenset()


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{ROOT / 'shared'}"},
    )
    return set(out.stdout.split())


def test_the_registry_imports_no_channel_package():
    # A cold start pays for the channels it sees, not for all of them.
    loaded = _modules_after("import oms.domain.webhooks, oms.domain.normalization")
    assert not {f"oms.channels.{c.value}" for c in WITH_PACKAGE} & loaded


def test_one_channel_loads_only_its_own_package():
    loaded = _modules_after(
        "from oms.channels.registry import spec\nfrom oms.models.order import Channel\n"
        "spec(Channel.shopee).delivery(); spec(Channel.shopee).fetched_normalizer()"
    )
    assert "oms.channels.shopee.normalizer" in loaded
    assert not {f"oms.channels.{c.value}" for c in WITH_PACKAGE if c is not Channel.shopee} & loaded


def test_the_channel_packages_import_no_adapter_and_no_boto3():
    packages = ", ".join(f"oms.channels.{c.value}.webhook" for c in WITH_PACKAGE)
    loaded = _modules_after(f"import {packages}, oms.channels.registry")
    assert not [name for name in loaded if name.startswith(("oms.adapters", "boto3", "botocore"))]
