"""TikTok Shop: enveloped pushes (webhook) name orders (normalizer.notices); the order is fetched from
the Open API (oms.adapters.marketplace_api.tiktok) and normalized (normalizer.normalize); statuses map
through status."""

from oms.channels.tiktok.normalizer import normalize, notices
from oms.channels.tiktok.status import STATES, state

__all__ = ["STATES", "normalize", "notices", "state"]
