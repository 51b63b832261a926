"""Every setting of README "Local settings" works in `make run` (oms_local.__main__), one test per group."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from local_helpers import REPO

from oms_local import LocalRuntime
from oms_local.__main__ import runtime_from_env
from oms_local.seed import DEFAULTS, SECRET_PARAMETERS
from oms_local.stack_process import StackProcess, http

ENDPOINTS = {  # README: OMS_<CHANNEL>_API_BASE, OMS_BITESHIP_API_BASE, OMS_PAYMENTS_API_BASE
    "OMS_SHOPEE_API_BASE": "ShopeeApiBase",
    "OMS_LAZADA_API_BASE": "LazadaApiBase",
    "OMS_TIKTOK_API_BASE": "TiktokApiBase",
    "OMS_SHOPIFY_API_BASE": "ShopifyApiBase",
    "OMS_WOOCOMMERCE_API_BASE": "WoocommerceApiBase",
    "OMS_BITESHIP_API_BASE": "BiteshipApiBase",
    "OMS_PAYMENTS_API_BASE": "PaymentsApiBase",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _moto(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """runtime_from_env() as `make run` builds it, on free ports, with the given environment."""
    runtimes: list[LocalRuntime] = []
    for name in [*DEFAULTS, *ENDPOINTS, "OMS_PARAMETER_OVERRIDES", "SEED"]:
        monkeypatch.delenv(name, raising=False)

    def start(**env: str) -> LocalRuntime:
        base = {"PORT": "0", "OMS_MOTO_PORT": "0", "OMS_CHANNELS_PORT": "0", "OMS_DATA_DIR": str(tmp_path / "oms")}
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        rt = runtime_from_env().start()
        runtimes.append(rt)
        return rt

    yield start
    for rt in runtimes:
        rt.stop(drain_timeout=5, save=False)


def test_ports_data_dir_seed_and_api_key(tmp_path: Path) -> None:
    """PORT, OMS_MOTO_PORT, OMS_CHANNELS_PORT, OMS_DATA_DIR, SEED, OMS_API_KEY: `make run` itself, as a process."""
    ports = {"PORT": _free_port(), "OMS_MOTO_PORT": _free_port(), "OMS_CHANNELS_PORT": _free_port()}
    data_dir = tmp_path / "custom-data"
    env = {name: str(port) for name, port in ports.items()}
    env.update({"OMS_DATA_DIR": str(data_dir), "SEED": "0", "OMS_API_KEY": "my_ops_key"})
    stack = StackProcess(data_dir, env=env).start()
    try:
        assert stack.url == f"http://127.0.0.1:{ports['PORT']}"
        assert stack.moto_url == f"http://127.0.0.1:{ports['OMS_MOTO_PORT']}"
        assert stack.urls["channels"] == f"http://127.0.0.1:{ports['OMS_CHANNELS_PORT']}"
        assert (data_dir / "logs" / "moto.log").exists() and (data_dir / "state").is_dir()
        # SEED=0: no demo nodes, SKUs or stock.
        assert _moto(stack.moto_url, "dynamodb").scan(TableName="oms-catalog-local")["Items"] == []
        # OMS_API_KEY and the keys derived from it; the default key is not one.
        missing = f"{stack.url}/orders/NO-SUCH-ORDER"  # 404 once the key is accepted
        assert http("GET", missing, "my_ops_key")[0] == 404
        assert http("GET", missing, "my_ops_key_cs")[0] == 404
        assert http("GET", missing, DEFAULTS["OMS_API_KEY"])[0] in (401, 403)
        order = {"channel": "pos", "channel_order_id": "SETTINGS-1", "lines": []}
        assert http("POST", f"{stack.url}/orders", DEFAULTS["OMS_API_KEY"] + "_pos", order)[0] in (401, 403)
    finally:
        assert stack.stop() == 0
    assert (data_dir / "state" / "snapshot.json").exists()  # saved on exit, in OMS_DATA_DIR


def test_channel_and_carrier_secrets(started: Any) -> None:
    """Every secret of the table reaches SSM (what the functions read) and the channel simulator (what signs)."""
    env = {name: f"custom-{name.lower()}" for name in SECRET_PARAMETERS}
    env["OMS_SHOPEE_PARTNER_ID"] = "777001"
    rt = started(**env)
    ssm = rt.client("ssm")
    path = rt.env_for("IngestionApiFunction")["SECRETS_PATH"].rstrip("/")
    for name, parameter in SECRET_PARAMETERS.items():
        value = ssm.get_parameter(Name=f"{path}/{parameter}", WithDecryption=True)["Parameter"]["Value"]
        assert value == env[name], name
    assert rt.channels is not None
    assert rt.channels.marketplaces.settings["OMS_SHOPEE_PARTNER_KEY"] == env["OMS_SHOPEE_PARTNER_KEY"]
    assert rt.channels.marketplaces.settings["OMS_TIKTOK_APP_SECRET"] == env["OMS_TIKTOK_APP_SECRET"]


def test_api_bases_point_the_functions_elsewhere(started: Any) -> None:
    """OMS_<CHANNEL>_API_BASE, OMS_BITESHIP_API_BASE, OMS_PAYMENTS_API_BASE replace the simulator's URLs."""
    env = {name: f"http://127.0.0.1:9/{name.lower()}" for name in ENDPOINTS}
    env["OMS_PARAMETER_OVERRIDES"] = "LazadaApiBase=http://127.0.0.1:9/explicit"  # explicit beats the variable
    rt = started(**env)
    expected = {**env, "OMS_LAZADA_API_BASE": "http://127.0.0.1:9/explicit"}
    expected.pop("OMS_PARAMETER_OVERRIDES")
    seen: set[str] = set()
    for lid, spec in rt.template.functions().items():
        for name, value in spec.environment.items():
            if name in ENDPOINTS:
                assert value == expected[name], (lid, name, value)
                seen.add(name)
    assert seen == set(ENDPOINTS)


def test_without_the_variables_the_simulator_is_called(started: Any) -> None:
    rt = started()
    assert rt.channels is not None
    fetch = rt.env_for("ChannelFetchFunction")
    assert fetch["OMS_SHOPEE_API_BASE"] == rt.channels.base_url("shopee")
    # Tokopedia's orders come through TikTok Shop's API: one base for both, and none of Tokopedia's own
    assert fetch["OMS_TIKTOK_API_BASE"] == rt.channels.base_url("tiktok")
    assert not any(name.startswith("OMS_TOKOPEDIA_") for name in fetch)


def test_template_declares_every_endpoint_setting() -> None:
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    for parameter in ENDPOINTS.values():
        assert f"  {parameter}:" in text
