"""Available-to-promise, in plain Python: node ATP from stock items, channel
ATP after the channel's allocation policy, pickup ATP per store, and where a
checkout hold takes its units from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from oms.models.inventory import (
    AllocationKind,
    AvailabilityLevel,
    Node,
    NodeAvailability,
    NodeKind,
    PickupAvailability,
    SkuAvailability,
    StockLevel,
    StockPolicy,
)
from oms.models.order import Channel


@dataclass(frozen=True)
class Position:
    """A (sku, node) summed over its buckets."""

    sku: str
    node_id: str
    on_hand: int
    reserved: int
    safety_stock: int
    buckets: tuple[StockLevel, ...]

    @property
    def atp(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


def positions(levels: Iterable[StockLevel]) -> dict[tuple[str, str], Position]:
    grouped: dict[tuple[str, str], list[StockLevel]] = {}
    for level in levels:
        grouped.setdefault((level.sku, level.node_id), []).append(level)
    result = {}
    for (sku, node_id), items in grouped.items():
        items.sort(key=lambda level: level.bucket)
        result[(sku, node_id)] = Position(
            sku=sku,
            node_id=node_id,
            on_hand=sum(level.on_hand for level in items),
            reserved=sum(level.reserved for level in items),
            safety_stock=sum(level.safety_stock for level in items),
            buckets=tuple(items),
        )
    return result


def node_offered(node: Node, policy: StockPolicy, atp: int, *, pickup: bool = False) -> str | None:  # noqa: PLR0911
    """None when the node counts for the channel; else why not."""
    if not node.enabled:
        return "node disabled"
    if policy.nodes is not None and node.node_id not in policy.nodes:
        return "not a node of this channel"
    if pickup and not node.may_pickup:
        return "no pickup at this node"
    if not pickup and not node.may_ship:
        return "node does not ship"
    if atp <= 0:
        return "no stock"
    if atp < node.routing_threshold:
        return f"below the routing threshold ({node.routing_threshold})"
    return None


def channel_atp(policy: StockPolicy, offered: Mapping[str, int], nodes: Mapping[str, Node]) -> int:
    """What a channel may sell from the offered nodes' ATP, after its allocation policy."""
    if policy.allocation is AllocationKind.protect_store:
        return sum(
            max(0, atp - policy.value) if nodes[node_id].kind is NodeKind.store else atp
            for node_id, atp in offered.items()
        )
    total = sum(offered.values())
    if policy.allocation is AllocationKind.cap_pct:
        return total * policy.value // 100
    if policy.allocation is AllocationKind.buffer:
        return max(0, total - policy.value)
    return total


def level_for(atp: int, policy: StockPolicy) -> AvailabilityLevel:
    if atp <= 0:
        return AvailabilityLevel.out
    if atp <= policy.low_threshold:
        return AvailabilityLevel.low
    return AvailabilityLevel.in_stock


def availability(
    sku: str,
    channel: Channel,
    policy: StockPolicy,
    nodes: Mapping[str, Node],
    stock: Mapping[tuple[str, str], Position],
    *,
    with_nodes: bool,
) -> SkuAvailability:
    offered: dict[str, int] = {}
    pickup: list[PickupAvailability] = []
    breakdown: list[NodeAvailability] = []
    for node_id in sorted(nodes):
        node = nodes[node_id]
        position = stock.get((sku, node_id))
        atp = position.atp if position else 0
        reason = node_offered(node, policy, atp)
        if reason is None:
            offered[node_id] = atp
        if node_offered(node, policy, atp, pickup=True) is None:
            pickup.append(PickupAvailability(node_id=node_id, atp=atp))
        if with_nodes and position is not None:
            breakdown.append(
                NodeAvailability(
                    node_id=node_id,
                    kind=node.kind,
                    on_hand=position.on_hand,
                    reserved=position.reserved,
                    safety_stock=position.safety_stock,
                    atp=atp,
                    offered=reason is None,
                    reason=reason,
                    buckets=len(position.buckets),
                )
            )
    total = channel_atp(policy, offered, nodes)
    return SkuAvailability(
        sku=sku,
        channel=channel,
        atp=total,
        level=level_for(total, policy),
        pickup=pickup,
        nodes=breakdown if with_nodes else None,
    )


@dataclass(frozen=True)
class Take:
    """Units a hold line takes from one stock item."""

    sku: str
    node_id: str
    bucket: int
    quantity: int


def bucket_order(position: Position, salt: str) -> list[StockLevel]:
    """Buckets in a per-request order, so concurrent holds spread over them."""
    if len(position.buckets) == 1:
        return list(position.buckets)
    start = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:4], "big") % len(position.buckets)
    ordered = sorted(position.buckets, key=lambda level: level.bucket)
    return ordered[start:] + ordered[:start]


def choose_takes(
    sku: str,
    quantity: int,
    candidates: list[Position],
    nodes: Mapping[str, Node],
    salt: str,
) -> list[Take] | None:
    """Where one line's units come from: one node (DCs before stores, the fullest first), and
    in it one stock item that holds them all, or else several buckets (a hot SKU's free units
    are spread thin over its buckets). None when no single node has the units.

    A line is not split across nodes: sourcing (which knows the destination) may
    re-plan the order later; a hold only has to guarantee the units exist.
    """
    ranked = sorted(candidates, key=lambda p: (nodes[p.node_id].kind is not NodeKind.dc, -p.atp, p.node_id))
    for position in ranked:
        if position.atp < quantity:
            continue
        ordered = bucket_order(position, salt)
        for level in ordered:
            if level.atp >= quantity:
                return [Take(sku, position.node_id, level.bucket, quantity)]
        takes: list[Take] = []
        left = quantity
        for level in ordered:
            part = min(level.atp, left)
            if part > 0:
                takes.append(Take(sku, position.node_id, level.bucket, part))
                left -= part
            if left == 0:
                return takes
    return None
