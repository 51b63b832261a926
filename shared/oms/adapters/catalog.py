"""The catalog table: SKUs (pk SKU#<sku>) and nodes (pk NODE#<id>)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import batch_get, from_item, to_item
from oms.errors import StaleWrite
from oms.models.inventory import ChannelStockPolicy, Node, StockPolicy
from oms.models.order import Channel
from oms.ports import CatalogRepository

if TYPE_CHECKING:
    from oms.domain.return_policy import SkuFacts
    from oms.models.promising import PromisingRules
    from oms.models.returns import ReturnPolicy
    from oms.models.rule_sets import RuleVersion
    from oms.models.sourcing import SourcingRules

# Each rule set's model (and default) is imported where it is read: a function loads only the
# rule models it uses, and its cold start pays for no other's.
RuleSet = TypeVar("RuleSet", bound=BaseModel)
STOCK_POLICY = "stock-policy#"  # kind of a channel's stock policy: stock-policy#<channel>


def _current_key(kind: str) -> tuple[str, str]:
    """The item holding a kind's rule set in force, and its attribute with the JSON."""
    if kind.startswith(STOCK_POLICY):
        return f"CHANNEL#{kind.removeprefix(STOCK_POLICY)}", "policy"
    return f"{kind.upper()}#rules", "rules"


def _history_key(kind: str, version: int) -> str:
    return f"RULES#{kind}#v{version}"


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
        from oms.domain.return_policy import SkuFacts

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
        """A stored rule set (pk <KIND>#rules; a channel's stock policy: CHANNEL#<channel>), or None until
        ops save one."""
        pk, attribute = _current_key(kind)
        item = client("dynamodb").get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
        return model.model_validate_json(item[attribute]["S"]) if item else None

    def put_rule_set(
        self,
        kind: str,
        rules: BaseModel,
        expected_version: int | None,
        *,
        previous: BaseModel | None = None,
        restored_from: int | None = None,
    ) -> None:
        """Saves if the stored version is still expected_version (None: nothing stored yet), in one
        transaction with its history item (pk RULES#<kind>#v<version>) and the one of `previous`, the set
        it replaces (so the built-in set, or one saved before history was kept, can be restored too)."""
        pk, attribute = _current_key(kind)
        version: int = rules.version  # type: ignore[attr-defined]
        if expected_version is None:
            condition, values = "attribute_not_exists(pk)", None
        elif expected_version == 1:  # stock policies written before they had versions carry none
            condition, values = "attribute_not_exists(version) OR version = :v", {":v": {"N": "1"}}
        else:
            condition, values = "version = :v", {":v": {"N": str(expected_version)}}
        current: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item({"pk": pk, "version": version, attribute: rules.model_dump_json()}),
            "ConditionExpression": condition,
        }
        if values:
            current["ExpressionAttributeValues"] = values
        items = [
            {"Put": current},
            {"Put": {"TableName": self.table, "Item": _history_item(kind, rules, restored_from)}},
        ]
        if previous is not None and not self._kept(kind, previous.version):  # type: ignore[attr-defined]
            items.append({"Put": {"TableName": self.table, "Item": _history_item(kind, previous, None)}})
        try:
            client("dynamodb").transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if (
                error_code(exc) == "TransactionCanceledException"
                and reasons[:1]
                and (reasons[0].get("Code") == "ConditionalCheckFailed")
            ):
                raise StaleWrite(f"the {kind} rules changed meanwhile; read them again") from exc
            raise

    def _kept(self, kind: str, version: int) -> bool:
        key = {"pk": {"S": _history_key(kind, version)}}
        found = client("dynamodb").get_item(
            TableName=self.table, Key=key, ProjectionExpression="pk", ConsistentRead=True
        )
        return "Item" in found

    def rule_version(self, kind: str, version: int, model: type[RuleSet]) -> RuleSet | None:
        """A kept version of a rule set, or None."""
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": _history_key(kind, version)}}, ConsistentRead=True)
            .get("Item")
        )
        return model.model_validate_json(item["rules"]["S"]) if item else None

    def rule_versions(self, kind: str, versions: list[int]) -> list[RuleVersion]:
        """Who saved which of these versions and when (those kept; the content is not read)."""
        from oms.models.rule_sets import RuleVersion

        keys = [{"pk": {"S": _history_key(kind, version)}} for version in versions]
        found = batch_get(
            self.table, keys, consistent=True, projection="pk, saved_version, saved_at, saved_by, restored_from"
        )
        out = []
        for item in found:
            values = from_item(item)
            restored = values.get("restored_from")
            out.append(
                RuleVersion(
                    version=int(values["saved_version"]),
                    updated_at=values.get("saved_at"),
                    updated_by=values.get("saved_by"),
                    restored_from=int(restored) if restored is not None else None,
                )
            )
        return out

    def policies(self) -> dict[str, ChannelStockPolicy]:
        policies = (ChannelStockPolicy.model_validate_json(values["policy"]) for values in self._scan("CHANNEL#"))
        return {policy.channel.value: policy for policy in policies}

    def put_policy(self, policy: ChannelStockPolicy) -> None:
        """Unconditionally, without history (seeding, tests); the API saves through put_rule_set."""
        item = {"pk": f"CHANNEL#{policy.channel.value}", "version": policy.version, "policy": policy.model_dump_json()}
        client("dynamodb").put_item(TableName=self.table, Item=to_item(item))


def _history_item(kind: str, rules: BaseModel, restored_from: int | None) -> dict[str, Any]:
    updated_at = getattr(rules, "updated_at", None)
    return to_item(
        {
            "pk": _history_key(kind, rules.version),  # type: ignore[attr-defined]
            "kind": kind,
            "saved_version": rules.version,  # type: ignore[attr-defined]
            "saved_at": updated_at.isoformat() if updated_at else None,
            "saved_by": getattr(rules, "updated_by", None),
            "restored_from": restored_from,
            "rules": rules.model_dump_json(),
        }
    )


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
        from oms.domain.sourcing_defaults import default_rules
        from oms.models.sourcing import SourcingRules

        return self._rule_set("sourcing", SourcingRules, default_rules)

    def promising_rules(self) -> PromisingRules:
        from oms.domain.promising_defaults import default_promising_rules
        from oms.models.promising import PromisingRules

        return self._rule_set("promising", PromisingRules, default_promising_rules)

    def returns_policy(self) -> ReturnPolicy:
        from oms.domain.return_policy import default_policy
        from oms.models.returns import ReturnPolicy

        return self._rule_set("returns", ReturnPolicy, default_policy)

    def stored_rules(self, kind: str, model: type[RuleSet]) -> RuleSet | None:
        return self.inner.rule_set(kind, model)

    def put_rules(
        self,
        kind: str,
        rules: BaseModel,
        expected_version: int | None,
        *,
        previous: BaseModel | None = None,
        restored_from: int | None = None,
    ) -> None:
        self.inner.put_rule_set(kind, rules, expected_version, previous=previous, restored_from=restored_from)
        self._rules.pop(kind, None)
        if kind.startswith(STOCK_POLICY):
            self._policies = None

    def rule_version(self, kind: str, version: int, model: type[RuleSet]) -> RuleSet | None:
        return self.inner.rule_version(kind, version, model)

    def rule_versions(self, kind: str, versions: list[int]) -> list[RuleVersion]:
        return self.inner.rule_versions(kind, versions)

    def put_node(self, node: Node) -> None:
        self.inner.put_node(node)
        self._nodes = None

    def put_policy(self, policy: ChannelStockPolicy) -> None:
        self.inner.put_policy(policy)
        self._policies = None
