"""The stock ledger, derived from the inventory table's stream: every change
of a stock item becomes one immutable entry with its deltas and its cause
(the ``last_change`` the writer stamped in the same write). No write on the
hot path pays for it, and nothing that changes stock can skip it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

LEDGER_DAYS = 400  # movements and request keys are kept this long
_FIGURES = ("on_hand", "reserved", "safety_stock", "atp")


def iso(moment: datetime) -> str:
    """An instant as the ledger writes it: UTC, milliseconds, Z (sorts as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def ledger_entry(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, sequence: str) -> dict[str, Any] | None:
    """One entry for one stock item change, or None when no figure changed (or it is not a stock item)."""
    image = new or old
    if not image or "node_id" not in image or not str(image.get("sk", "")).startswith("NODE#"):
        return None
    before = {name: int(old.get(name, 0)) if old else 0 for name in _FIGURES}
    after = {name: int(new.get(name, 0)) if new else 0 for name in _FIGURES}
    deltas = {name: after[name] - before[name] for name in _FIGURES}
    counted_changed = bool(new) and (not old or old.get("counted_as_of") != new.get("counted_as_of"))
    if not any(deltas.values()) and not counted_changed:
        return None
    change = (new or {}).get("last_change") or {}
    at = str(change.get("at") or (new or old or {}).get("updated_at") or "")
    moment = parse_time(at)
    entry: dict[str, Any] = {
        "pk": f"STOCK#{image['sku']}#{image['node_id']}",
        "sk": f"{at}#{int(image.get('bucket', 0)):02d}#{sequence}",
        "kind": str(change.get("kind", "unknown")) if new else "deleted",
        "ref": str(change.get("ref", "")),
        "bucket": int(image.get("bucket", 0)),
        "moved_at": at,
        "d_on_hand": deltas["on_hand"],
        "d_reserved": deltas["reserved"],
        "d_safety_stock": deltas["safety_stock"],
        "on_hand": after["on_hand"],
        "reserved": after["reserved"],
        "atp": after["atp"],
    }
    if counted_changed and new is not None:
        entry["counted_on_hand"] = int(new.get("counted_on_hand", 0))
        entry["counted_as_of"] = str(new.get("counted_as_of"))
    if moment is not None:
        entry["expires_at"] = int((moment + timedelta(days=LEDGER_DAYS)).timestamp())
    return entry
