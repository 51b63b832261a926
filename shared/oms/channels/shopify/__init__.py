"""Shopify: the REST order webhook is the whole order (normalizer), signed with the app's secret
(webhook). No API client yet: stock and write-back go out in the interim shape
(oms.adapters.channel_client)."""

from oms.channels.shopify.normalizer import normalize

__all__ = ["normalize"]
