"""Handlers under moto, with the resources created from template.yaml itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from oms import container
from oms.adapters.aws import reset_clients
from oms_local import seed
from oms_local.moto_txn import patch_transactions
from oms_local.resources import CreatedResources, create_all
from oms_local.template import Template
from tests.clock import _fixed_clock  # noqa: F401  (an autouse fixture: a fixed instant)
from tests.support import ROOT

REGION = "us-east-1"


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


@dataclass
class Stack:
    template: Template
    resources: CreatedResources
    env: dict[str, str]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch_transactions()
    with mock_aws():
        template = Template(ROOT / "template.yaml", {"Stage": "test"})
        resources = create_all(template, client)
        env = template.functions()["IngestionApiFunction"].environment
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        container.reset()
        reset_clients()
        parameters.clear_caches()
        seed.configure(client, env["SECRETS_PATH"], env["API_KEYS_TABLE"])
        seed.seed_catalog(client, env["CATALOG_TABLE"])
        seed.seed_stock(client, env["INVENTORY_TABLE"])
        yield Stack(template, resources, env)
        container.reset()
        reset_clients()
        parameters.clear_caches()
