"""Shopee: thin pushes (webhook) name orders (normalizer.notices); the order is fetched from the Open
Platform API (its client: oms.adapters.marketplace_api.shopee) and normalized (normalizer.normalize);
statuses map through status."""

from oms.channels.shopee.normalizer import normalize, notices
from oms.channels.shopee.status import STATES, state

__all__ = ["STATES", "normalize", "notices", "state"]
