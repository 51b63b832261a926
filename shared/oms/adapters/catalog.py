"""The catalog table: SKUs (pk SKU#<sku>) and nodes (pk NODE#<id>)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import batch_get, from_item, to_item
from oms.domain.promising_defaults import default_promising_rules
from oms.domain.return_policy import SkuFacts, default_policy
from oms.domain.sourcing_defaults import default_rules
from oms.errors import StaleWrite
from oms.models.inventory import ChannelStockPolicy, Node, StockPolicy
from oms.models.order import Channel
from oms.models.promising import PromisingRules
from oms.models.returns import ReturnPolicy
from oms.models.sourcing import SourcingRules
from oms.ports import CatalogRepository

RuleSet = TypeVar("RuleSet", SourcingRules, PromisingRules, ReturnPolicy)


class DynamoCatalog(CatalogRepository):
    def __init__(self, table: str) -> None:
        self.table = table

    def known_skus(self, skus: set[str]) -> set[str]:
        keys = [{"pk": {"S": f"SKU#{sku}"}} for sku in sorted(skus)]
        return {item["pk"]["S"].removeprefix("SKU#") for item in batch_get(self.table, keys, projection="pk")}

    def weights(self, skus: set[str]) -> dict[str, int]:
        """Grams per unit of the SKUs that have a weight."""
        keys = [{"pk": {"S": f"SKU#{sku}"}} for sku in sorted(skus)]
        out = {}
        for item in batch_get(self.table, keys, projection="pk, weight_g"):
            if "weight_g" in item:
                out[item["pk"]["S"].removeprefix("SKU#")] = int(item["weight_g"]["N"])
        return out

    def sku_facts(self, skus: set[str]) -> dict[str, SkuFacts]:
        """Category, supplier and list price of the SKUs the catalog knows (returns: policy rules, vendor
        returns, exchanges at the same price)."""
        keys = [{"pk": {"S": f"SKU#{sku}"}} for sku in sorted(skus)]
        out = {}
        for item in batch_get(self.table, keys, projection="pk, category, supplier, list_price"):
            values = from_item(item)
            price = values.get("list_price")
            facts = SkuFacts(values.get("category"), values.get("supplier"), Decimal(price) if price else None)
            out[values["pk"].removeprefix("SKU#")] = facts
        return out

    def put_sku(self, sku: str, **attributes: Any) -> None:
        client("dynamodb").put_item(TableName=self.table, Item=to_item({"pk": f"SKU#{sku}", "sku": sku, **attributes}))

    def put_node(self, node_id: str, **attributes: Any) -> None:
        client("dynamodb").put_item(
            TableName=self.table, Item=to_item({"pk": f"NODE#{node_id}", "node_id": node_id, **attributes})
        )


class CachedCatalog(CatalogRepository):
    """Remembers the SKUs found known for a while, per container.

    Demand is skewed, so most orders ask only for SKUs seen moments ago; an
    unknown SKU is asked again every time, so a SKU added to the catalog is
    known at once. A SKU removed from the catalog stays known until max_age.
    """

    def __init__(self, inner: CatalogRepository, max_age: float = 300.0) -> None:
        self.inner = inner
        self.max_age = max_age
        self._known_until: dict[str, float] = {}
        self._weights: dict[str, tuple[float, int]] = {}

    def weights(self, skus: set[str]) -> dict[str, int]:
        """Weights change rarely: remembered like known SKUs."""
        now = time.monotonic()
        missing = {sku for sku in skus if self._weights.get(sku, (0.0, 0))[0] <= now}
        if missing:
            found = self.inner.weights(missing)
            for sku in missing:
                if sku in found:
                    self._weights[sku] = (now + self.max_age, found[sku])
        return {sku: self._weights[sku][1] for sku in skus if sku in self._weights}

    def sku_facts(self, skus: set[str]) -> dict[str, SkuFacts]:
        """Not cached: returns are rare next to orders, and a category change should apply at once."""
        return self.inner.sku_facts(skus)  # type: ignore[attr-defined]

    def known_skus(self, skus: set[str]) -> set[str]:
        now = time.monotonic()
        cached = {sku for sku in skus if self._known_until.get(sku, 0.0) > now}
        missing = skus - cached
        if not missing:
            return cached
        found = self.inner.known_skus(missing)
        for sku in found:
            self._known_until[sku] = now + self.max_age
        return cached | found


class DynamoReferenceData:
    """Nodes and channel stock policies, kept as data in the catalog table."""

    def __init__(self, table: str) -> None:
        self.table = table

    def _scan(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": prefix}},
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                yield from_item(item)

    def nodes(self) -> dict[str, Node]:
        nodes = (Node.model_validate(_known_fields(Node, values)) for values in self._scan("NODE#"))
        return {node.node_id: node for node in nodes}

    def put_node(self, node: Node) -> None:
        values = node.model_dump(mode="json", exclude_none=True)
        for name in ("lat", "lng"):
            if node_value := getattr(node, name):
                values[name] = node_value
        client("dynamodb").put_item(TableName=self.table, Item=to_item({"pk": f"NODE#{node.node_id}", **values}))

    def rule_set(self, kind: str, model: type[RuleSet]) -> RuleSet | None:
        """A stored rule set (pk <KIND>#rules), or None until ops save one."""
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": f"{kind.upper()}#rules"}}, ConsistentRead=True)
            .get("Item")
        )
        return model.model_validate_json(item["rules"]["S"]) if item else None

    def put_rule_set(self, kind: str, rules: BaseModel, expected_version: int | None) -> None:
        """Saves if the stored version is still expected_version (None: nothing stored yet)."""
        condition = "attribute_not_exists(pk)" if expected_version is None else "version = :v"
        args: dict[str, Any] = {}
        if expected_version is not None:
            args["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        item = {"pk": f"{kind.upper()}#rules", "version": rules.version, "rules": rules.model_dump_json()}
        try:
            client("dynamodb").put_item(TableName=self.table, Item=to_item(item), ConditionExpression=condition, **args)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise StaleWrite(f"the {kind} rules changed meanwhile; read them again") from exc
            raise

    def policies(self) -> dict[str, ChannelStockPolicy]:
        policies = (ChannelStockPolicy.model_validate_json(values["policy"]) for values in self._scan("CHANNEL#"))
        return {policy.channel.value: policy for policy in policies}

    def put_policy(self, policy: ChannelStockPolicy) -> None:
        item = {"pk": f"CHANNEL#{policy.channel.value}", "policy": policy.model_dump_json()}
        client("dynamodb").put_item(TableName=self.table, Item=to_item(item))


def _known_fields(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Items may carry attributes a model does not know (older or newer writers). DynamoDB
    numbers come back as Decimal; whole ones are counts (strict ints), except coordinates."""
    known = {}
    for name, value in values.items():
        if name not in model.model_fields:
            continue
        whole = isinstance(value, Decimal) and name not in ("lat", "lng") and value == value.to_integral_value()
        known[name] = int(value) if whole else value
    return known


class CachedReferenceData:
    """Nodes and policies for max_age seconds per container: every availability read needs
    them and ops change them rarely. A write through this object is seen at once here and
    within max_age by every other container."""

    def __init__(self, inner: DynamoReferenceData, max_age: float = 30.0) -> None:
        self.inner = inner
        self.max_age = max_age
        self._nodes: tuple[float, dict[str, Node]] | None = None
        self._policies: tuple[float, dict[str, ChannelStockPolicy]] | None = None
        self._rules: dict[str, tuple[float, BaseModel]] = {}

    def nodes(self) -> dict[str, Node]:
        now = time.monotonic()
        if self._nodes is None or self._nodes[0] < now:
            self._nodes = (now + self.max_age, self.inner.nodes())
        return self._nodes[1]

    def policy(self, channel: Channel) -> StockPolicy:
        now = time.monotonic()
        if self._policies is None or self._policies[0] < now:
            self._policies = (now + self.max_age, self.inner.policies())
        return self._policies[1].get(channel.value) or StockPolicy()

    def policies(self) -> dict[str, ChannelStockPolicy]:
        self.policy(Channel.web)
        assert self._policies is not None
        return self._policies[1]

    def _rule_set(self, kind: str, model: type[RuleSet], default: Callable[[], RuleSet]) -> RuleSet:
        now = time.monotonic()
        cached = self._rules.get(kind)
        if cached is None or cached[0] < now:
            cached = (now + self.max_age, self.inner.rule_set(kind, model) or default())
            self._rules[kind] = cached
        return cached[1]  # type: ignore[return-value]

    def sourcing_rules(self) -> SourcingRules:
        """The stored rule set, or the built-in default until ops save one."""
        return self._rule_set("sourcing", SourcingRules, default_rules)

    def promising_rules(self) -> PromisingRules:
        return self._rule_set("promising", PromisingRules, default_promising_rules)

    def returns_policy(self) -> ReturnPolicy:
        return self._rule_set("returns", ReturnPolicy, default_policy)

    def stored_rules(self, kind: str, model: type[RuleSet]) -> RuleSet | None:
        return self.inner.rule_set(kind, model)

    def put_rules(self, kind: str, rules: BaseModel, expected_version: int | None) -> None:
        self.inner.put_rule_set(kind, rules, expected_version)
        self._rules.pop(kind, None)

    def put_node(self, node: Node) -> None:
        self.inner.put_node(node)
        self._nodes = None

    def put_policy(self, policy: ChannelStockPolicy) -> None:
        self.inner.put_policy(policy)
        self._policies = None
