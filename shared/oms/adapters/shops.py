"""The shops in the catalog table (pk SHOP#<channel>#<shop id>, the shop as JSON in `doc`, its version
beside it for conditional writes), read through a short cache; and one shop's view of its channel's
secrets, so a marketplace client built for that shop reads that shop's tokens and nothing else changes."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.domain.shops import shop_secret_name
from oms.errors import Conflict
from oms.models.common import Channel
from oms.models.shops import SHOP_SECRETS, Shop
from oms.ports import SecretsProvider
from oms.ports.shops import ShopSecretStore


def _pk(channel: Channel | str, shop_id: str) -> str:
    return f"SHOP#{Channel(channel).value}#{shop_id}"


class DynamoShops:
    def __init__(self, table: str, max_age: float = 30.0) -> None:
        self.table = table
        self.max_age = max_age  # shops change rarely; every fetch and call of a marketplace reads them
        self._cached: tuple[float, list[Shop]] | None = None

    def shops(self) -> list[Shop]:
        now = time.monotonic()
        if self._cached is None or self._cached[0] < now:
            self._cached = (now + self.max_age, self._scan())
        return list(self._cached[1])

    def _scan(self) -> list[Shop]:
        found = []
        paginator = client("dynamodb").get_paginator("scan")
        prefix = {":p": {"S": "SHOP#"}}
        pages = paginator.paginate(TableName=self.table, FilterExpression="begins_with(pk, :p)",
                                   ExpressionAttributeValues=prefix, ConsistentRead=True)  # fmt: skip
        for page in pages:
            found += [Shop.model_validate_json(item["doc"]["S"]) for item in page["Items"] if "doc" in item]
        return found

    def get(self, channel: Channel, shop_id: str) -> Shop | None:
        item = client("dynamodb").get_item(TableName=self.table, Key={"pk": {"S": _pk(channel, shop_id)}},
                                           ConsistentRead=True).get("Item")  # fmt: skip
        return Shop.model_validate_json(item["doc"]["S"]) if item and "doc" in item else None

    def put(self, shop: Shop, expected_version: int | None) -> None:
        item = {"pk": {"S": _pk(shop.channel, shop.shop_id)}, "doc": {"S": shop.model_dump_json()},
                "version": {"N": str(shop.version)}}  # fmt: skip
        if expected_version is None:
            condition: dict = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {"ConditionExpression": "version = :v",
                         "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}}  # fmt: skip
        try:
            client("dynamodb").put_item(TableName=self.table, Item=item, **condition)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"{shop.channel.value} shop {shop.shop_id} changed meanwhile: read it again") from None
            raise
        self._cached = None


class ShopSecrets(SecretsProvider):
    """One shop's view of its channel's secrets: its tokens are its own (<channel>/shops/<shop id>/...), its
    id and cipher come from the shop; the app's secrets (partner key, app secret) stay the channel's."""

    def __init__(self, secrets: ShopSecretStore, shop: Shop) -> None:
        self.secrets = secrets
        self.shop = shop

    def _name(self, channel: str, name: str) -> str:
        return (
            shop_secret_name(self.shop.shop_id, name)
            if channel == self.shop.channel.value and name in SHOP_SECRETS
            else name
        )

    def channel_secret(self, channel: str, name: str) -> str | None:
        if channel == self.shop.channel.value and name == "shop_id":
            return self.shop.shop_id
        if channel == self.shop.channel.value and name == "shop_cipher" and self.shop.shop_cipher:
            return self.shop.shop_cipher
        return self.secrets.channel_secret(channel, self._name(channel, name))

    def put(self, channel: str, name: str, value: str) -> None:
        self.secrets.put(channel, self._name(channel, name), value)
