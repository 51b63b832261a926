"""Replay a proposed rule set over past sourcing decisions.

Every decision stored beside its order keeps the lines it placed and the
stock it saw, so each one can be planned again, under the rules in force and
under the proposed ones, from the same stock: the difference is the rules'
alone. Capacity counters of that day are not kept, so neither side applies
capacity. Nothing is reserved or written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oms.domain.planner import NeedLine, SourcingInput, plan
from oms.models.inventory import Node
from oms.models.sourcing import Plan, SourcingRules


@dataclass
class Side:
    """Totals of one rule set over the replayed decisions."""

    cost: int = 0
    cost_where_both_fill: int = 0  # over the decisions that leave nothing unfilled under either rule set
    shipments: int = 0
    split_orders: int = 0
    late_shipments: int = 0
    unfilled_units: int = 0

    def add(self, result: Plan) -> None:
        self.cost += int(result.cost.total)
        self.shipments += len(result.shipments)
        self.split_orders += len(result.shipments) > 1
        self.late_shipments += sum(s.late for s in result.shipments)
        self.unfilled_units += sum(u.quantity for u in result.unfilled)


@dataclass
class ReplayReport:
    decisions: int = 0
    changed: int = 0
    current: Side = field(default_factory=Side)
    proposed: Side = field(default_factory=Side)
    examples: list[dict[str, Any]] = field(default_factory=list)  # the first decisions that changed

    def as_dict(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, int]:
            return dict(vars(s))

        # Cost compared where both rule sets fill every line: a plan that ships less costs less.
        base = self.current.cost_where_both_fill
        cost_change = self.proposed.cost_where_both_fill - base
        return {
            "decisions": self.decisions,
            "changed": self.changed,
            "current": side(self.current),
            "proposed": side(self.proposed),
            "cost_change": cost_change,
            "cost_change_pct": round(100 * cost_change / base, 2) if base else None,
            "unfilled_units_change": self.proposed.unfilled_units - self.current.unfilled_units,
            "split_orders_change": self.proposed.split_orders - self.current.split_orders,
            "late_shipments_change": self.proposed.late_shipments - self.current.late_shipments,
            "examples": self.examples,
        }


@dataclass(frozen=True)
class PastDecision:
    """One stored decision: the order as sourcing saw it, the lines and the stock of that round."""

    order_id: str
    at: datetime
    order: SourcingInput
    stock: Mapping[tuple[str, str], int]
    excluded: Mapping[str, str] = field(default_factory=dict)  # nodes that had rejected the order


def past_decision(order_id: str, at: datetime, base: SourcingInput, record: Mapping[str, Any]) -> PastDecision:
    """From a stored trace record (oms.domain.sourcing_parcels.trace_record)."""
    inputs = record["input"]
    lines = tuple(NeedLine(x["line_id"], x["sku"], int(x["quantity"])) for x in inputs["lines"])
    stock = {(sku, node): int(units) for sku, nodes in inputs["stock"].items() for node, units in nodes.items()}
    order = SourcingInput(
        channel=base.channel,
        method=base.method,
        service_level=base.service_level,
        destination=base.destination,
        lines=lines,
        pickup_node_id=base.pickup_node_id,
        ship_by=base.ship_by,
    )
    excluded = {node: "rejected this order before" for node in inputs.get("excluded_nodes", [])}
    return PastDecision(order_id, at, order, stock, excluded)


def replay(
    decisions: Iterable[PastDecision],
    nodes: Mapping[str, Node],
    weights: Mapping[str, int],
    current: SourcingRules,
    proposed: SourcingRules,
    eligible_for: Any,
    examples: int = 20,
) -> ReplayReport:
    """eligible_for(rules, channel) -> the nodes that channel may use under those rules (None = all)."""
    report = ReplayReport()
    for decision in decisions:
        results = []
        for rules in (current, proposed):
            results.append(
                plan(
                    decision.order,
                    nodes,
                    decision.stock,
                    weights,
                    rules,
                    eligible=eligible_for(rules, decision.order.channel),
                    capacity_left={},
                    now=decision.at,
                    excluded=decision.excluded,
                )
            )
        before, after = results
        if not before.unfilled and not after.unfilled:
            report.current.cost_where_both_fill += int(before.cost.total)
            report.proposed.cost_where_both_fill += int(after.cost.total)
        report.decisions += 1
        report.current.add(before)
        report.proposed.add(after)
        if _placement(before) != _placement(after):
            report.changed += 1
            if len(report.examples) < examples:
                report.examples.append(
                    {
                        "order_id": decision.order_id,
                        "current": {"nodes": [s.node_id for s in before.shipments], "cost": int(before.cost.total)},
                        "proposed": {"nodes": [s.node_id for s in after.shipments], "cost": int(after.cost.total)},
                    }
                )
    return report


def _placement(result: Plan) -> list[tuple[str, str, int]]:
    return sorted((s.node_id, line.line_id, line.quantity) for s in result.shipments for line in s.lines)
