"""Lazada: one push per order line (webhook) names the order (normalizer.notices); the order and its
item rows are fetched from the Open Platform API (oms.adapters.marketplace_api.lazada) and
normalized (normalizer.normalize); per-item statuses map through status."""

from oms.channels.lazada.normalizer import normalize, notices
from oms.channels.lazada.status import STATES, order_state, state

__all__ = ["STATES", "normalize", "notices", "order_state", "state"]
