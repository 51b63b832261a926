"""Reconciliation pull, on a schedule per channel: the orders each marketplace changed since the
stored cursor that the OMS has not seen at that version are queued for the channel fetcher, so a
missed push is never a missed order. Shopee's lost pushes (kept 3 days) are taken back into the
inbox first, so they follow the normal path.

Event: {"channel": "shopee"} (one schedule per channel), or {} for every connected marketplace;
{"job": "refresh_tokens"} (hourly) renews the shops' access tokens before they run out.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.channels.registry import MARKETPLACES, spec
from oms.errors import DependencyError
from oms.models.order import Channel
from oms.observability import logger, metrics, tracer
from oms.wiring.channels import channel_api, channel_reconciler, token_keeper


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    client = channel_api()
    client.finish_within(context.get_remaining_time_in_millis() / 1000 - 5 if context else None)
    if (event or {}).get("job") == "refresh_tokens":
        return _refresh_tokens(client)
    named = (event or {}).get("channel")
    # A storefront carried by another channel's API (Tokopedia) is reconciled with its carrier (TikTok Shop).
    channels = [spec(Channel(named)).carrier] if named else sorted(MARKETPLACES & set(client.channels()))
    results: dict[str, dict[str, int]] = {}
    failed = []
    for channel in channels:
        try:
            results[channel.value] = channel_reconciler().run(channel)
        except DependencyError as exc:  # one channel down does not stop the others; the cursor stays
            failed.append(channel.value)
            logger.warning("reconciliation failed", extra={"channel": channel.value, "error": exc.message})
            continue
        metrics.add_metric(
            name=f"ReconcileRequested_{channel.value}", unit=MetricUnit.Count, value=results[channel.value]["requested"]
        )
    logger.info("reconciled", extra={"results": results, "failed": failed})
    if failed:
        raise DependencyError(f"reconciliation failed for {', '.join(failed)}")  # alarmed; the next run retries
    return results


def _refresh_tokens(client) -> dict:  # type: ignore[no-untyped-def]
    keeper = token_keeper()
    shops = [(shop.channel, shop.shop_id, client.shop_secrets(shop, keeper.store))
             for shop in client.shops() if shop.enabled and shop.channel in client.channels()]  # fmt: skip
    # A channel whose own shop is registered renews it on the shop's path only.
    results = keeper.run([c for c in client.channels() if client.default_shop(c) is None], shops)
    failed = {channel: what for channel, what in results.items() if what.startswith("failed")}
    logger.info("shop tokens", extra={"results": results})
    metrics.add_metric(name="ChannelTokenRefreshFailures", unit=MetricUnit.Count, value=len(failed))
    if failed:
        raise DependencyError(f"token refresh failed: {failed}")  # alarmed; the next hour retries
    return results
