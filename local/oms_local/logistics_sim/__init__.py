"""Each marketplace's logistics and document calls, simulated in its documented shape (arrange a
shipment, the resi, the shipping label): `<channel>.py` offers

  PATHS: tuple[str, ...]   the path prefixes it answers (after the channel's signature and token check)
  serve(sim, channel, method, path, query, raw) -> (status, answer) | None  (None: not mine, let the
      simulator's own handlers answer, e.g. Shopee's ship_order with non_integrated)

and keeps its state in ``sim.logistics_state[<channel>]`` (cleared with the simulator's orders).
Tokopedia's storefront runs on the TikTok Shop API, so tiktok.py answers for both.
Called by marketplace_sim.py once a request's signature and shop token are good.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

MODULES = {"shopee": "shopee", "lazada": "lazada", "tiktok": "tiktok", "tokopedia": "tiktok"}


def _module(channel: str) -> ModuleType | None:
    name = MODULES.get(channel)
    if name is None:
        return None
    try:
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise


def claims(channel: str, path: str) -> bool:
    module = _module(channel)
    return bool(module and path.startswith(tuple(module.PATHS)))


def serve(sim: Any, channel: str, method: str, path: str, query: dict, raw: bytes) -> tuple[int, Any] | None:
    module = _module(channel)
    if module is None or not path.startswith(tuple(module.PATHS)):
        return None
    return module.serve(sim, channel, method, path, query, raw)


def document(sim: Any, token: str) -> tuple[int, str, bytes]:
    """GET /_sim/documents/<token>: a shipping document behind a link a marketplace's API gave (Lazada's
    pdf_url, TikTok Shop's doc_url); each module's `document(sim, token)` knows its own tokens."""
    for name in dict.fromkeys(MODULES.values()):
        module = _module(name)
        if module is None or not hasattr(module, "document"):
            continue
        found = module.document(sim, token)
        if found is not None and found[0] != 404:
            return found
    return 404, "application/json", b'{"error": "no such document"}'


def control(sim: Any, body: dict[str, Any]) -> dict[str, Any]:
    """POST /_sim/logistics: what the next logistics calls about one order or package answer.

    {"channel": "shopee", "order_id": sn, "resi_delay": 2}            the resi is empty for two asks
    {"channel": "shopee", "order_id": sn, "arrange_failure": {"error", "message"}}
    {"channel": "lazada", "order_id": id, "pack_failure": {"code", "message"}}
    {"channel": "tiktok" | "tokopedia", "package_id": id, "resi_delay": 2}
    {"channel": "tiktok" | "tokopedia", "package_id": id, "ship_failure": {"code", "message"}}
    """
    channel = str(body.get("channel") or "")
    module = _module(channel)
    if module is None:
        raise ValueError(f"no simulated logistics for {channel!r}")
    done = []
    if channel == "shopee" and "resi_delay" in body:
        module.set_resi_delay(sim, str(body["order_id"]), int(body["resi_delay"]))
        done.append("resi_delay")
    if channel == "shopee" and isinstance(body.get("arrange_failure"), dict):
        failure = body["arrange_failure"]
        module.set_arrange_failure(sim, str(body["order_id"]), str(failure["error"]), str(failure["message"]))
        done.append("arrange_failure")
    if channel == "lazada" and isinstance(body.get("pack_failure"), dict):
        failure = body["pack_failure"]
        module.set_pack_failure(sim, str(body["order_id"]), str(failure["code"]), str(failure["message"]))
        done.append("pack_failure")
    if channel in ("tiktok", "tokopedia") and "resi_delay" in body:
        module.set_resi_delay(sim, channel, str(body["package_id"]), int(body["resi_delay"]))
        done.append("resi_delay")
    if channel in ("tiktok", "tokopedia") and isinstance(body.get("ship_failure"), dict):
        failure = body["ship_failure"]
        module.set_ship_failure(sim, channel, str(body["package_id"]), int(failure["code"]), str(failure["message"]))
        done.append("ship_failure")
    if not done:
        raise ValueError("nothing to set: see the control's documented fields")
    return {"set": done}
