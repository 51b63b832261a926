"""Tokopedia (legacy Fulfillment Service): the order notification is the whole order
(normalizer.normalize_notification, buyer data decrypted by crypto), status pushes name an order
fetched from the API (oms.adapters.marketplace_api.tokopedia, normalizer.normalize); numeric status
codes map through status."""

from oms.channels.tokopedia.normalizer import Decrypt, normalize, normalize_notification, notices
from oms.channels.tokopedia.status import STATES, state

__all__ = ["STATES", "Decrypt", "normalize", "normalize_notification", "notices", "state"]
