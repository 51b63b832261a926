"""Available-to-promise as plain Python: channel figures, node eligibility, where a hold's units come from."""

from __future__ import annotations

from oms.domain.availability import Take, availability, channel_atp, choose_takes, level_for, node_offered, positions
from oms.domain.stock import bucket_targets
from oms.models.inventory import AvailabilityLevel, Node, NodeKind, StockLevel, StockPolicy
from oms.models.order import Channel

NODES = {
    "DC-A": Node(node_id="DC-A", name="DC A", kind=NodeKind.dc),
    "DC-B": Node(node_id="DC-B", name="DC B", kind=NodeKind.dc),
    "ST-1": Node(node_id="ST-1", name="Store 1", kind=NodeKind.store, may_pickup=True, routing_threshold=2),
}


def level(node: str, on_hand: int, reserved: int = 0, safety: int = 0, bucket: int = 0, sku: str = "S") -> StockLevel:
    return StockLevel(
        sku=sku,
        node_id=node,
        bucket=bucket,
        on_hand=on_hand,
        reserved=reserved,
        safety_stock=safety,
        atp=on_hand - reserved - safety,
    )


def test_each_allocation_kind() -> None:
    offered = {"DC-A": 10, "ST-1": 4}
    assert channel_atp(StockPolicy(), offered, NODES) == 14
    assert channel_atp(StockPolicy(allocation="cap_pct", value=50), offered, NODES) == 7
    assert channel_atp(StockPolicy(allocation="cap_pct", value=33), {"DC-A": 10}, NODES) == 3  # rounded down
    assert channel_atp(StockPolicy(allocation="buffer", value=20), offered, NODES) == 0  # never negative
    assert channel_atp(StockPolicy(allocation="protect_store", value=3), offered, NODES) == 11  # store keeps 3


def test_a_node_is_offered_only_when_the_channel_may_sell_from_it() -> None:
    dc_only = StockPolicy(nodes=["DC-A", "DC-B"])
    assert node_offered(NODES["ST-1"], dc_only, 9) == "not a node of this channel"
    assert node_offered(NODES["ST-1"], StockPolicy(), 1) == "below the routing threshold (2)"
    assert node_offered(NODES["ST-1"], StockPolicy(), 2) is None
    assert node_offered(NODES["DC-A"], StockPolicy(), 0) == "no stock"
    assert node_offered(NODES["DC-A"], StockPolicy(), 5, pickup=True) == "no pickup at this node"
    closed = NODES["DC-B"].model_copy(update={"enabled": False})
    assert node_offered(closed, StockPolicy(), 5) == "node disabled"


def test_levels_follow_the_low_threshold() -> None:
    policy = StockPolicy(low_threshold=5)
    assert [level_for(n, policy) for n in (0, 5, 6)] == [
        AvailabilityLevel.out,
        AvailabilityLevel.low,
        AvailabilityLevel.in_stock,
    ]


def test_availability_sums_offered_nodes_and_lists_pickup_stores() -> None:
    stock = positions([level("DC-A", 20, reserved=3, safety=5), level("ST-1", 1), level("DC-B", 0)])
    answer = availability("S", Channel.web, StockPolicy(), NODES, stock, with_nodes=True)
    assert answer.atp == 12  # the store's single unit is below its routing threshold
    assert answer.pickup == []
    assert {n.node_id: n.reason for n in answer.nodes or []}["ST-1"] == "below the routing threshold (2)"


def test_a_line_comes_from_one_node_dcs_first_fullest_first() -> None:
    stock = positions([level("DC-A", 5), level("DC-B", 9), level("ST-1", 30)])
    candidates = list(stock.values())
    assert choose_takes("S", 4, candidates, NODES, "x") == [Take("S", "DC-B", 0, 4)]
    assert choose_takes("S", 10, candidates, NODES, "x") == [Take("S", "ST-1", 0, 10)]
    assert choose_takes("S", 31, candidates, NODES, "x") is None  # 44 in all, but no node has 31


def test_a_line_bigger_than_any_bucket_takes_several_buckets_of_one_node() -> None:
    buckets = [level("DC-A", 2, bucket=b) for b in range(4)]
    stock = positions(buckets)
    assert choose_takes("S", 2, list(stock.values()), NODES, "x") is not None
    takes = choose_takes("S", 7, list(stock.values()), NODES, "salt")
    assert takes is not None and sum(t.quantity for t in takes) == 7
    assert len({t.bucket for t in takes}) == 4 and {t.node_id for t in takes} == {"DC-A"}
    assert choose_takes("S", 9, list(stock.values()), NODES, "salt") is None


def test_bucket_targets_spread_free_units_evenly_and_leave_reserved_where_they_are() -> None:
    levels = [level("DC-A", 25, reserved=2, safety=5)]
    assert bucket_targets(levels, 4) == {0: 5 - 18, 1: 5, 2: 4, 3: 4}
    spread = [level("DC-A", 10, safety=5), level("DC-A", 4, bucket=1), level("DC-A", 4, bucket=2)]
    assert bucket_targets(spread, 1) == {0: 8, 1: -4, 2: -4}
