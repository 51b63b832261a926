"""Status jobs on schedules.

* {"job": "watch"} (every 15 minutes): orders not released, parcels past their hand-over, parcels
  without carrier news, parcels late against their promise are flagged (oms.domain.watchers); a flag
  whose condition ended is dropped (late ones stay). A run writes an order only when its flags change.
* {"job": "poll"} (every 30 minutes): parcels of carriers that do not push are looked up by waybill
  (oms.domain.polling) and applied like a push.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.observability import logger, metrics, tracer
from oms.wiring.status import carrier_poller, watcher


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    if event.get("job") == "watch":
        result = watcher().run(time_left)
        metrics.add_metric(name="OrdersFlagged", unit=MetricUnit.Count, value=result["flagged"])
    elif event.get("job") == "poll":
        result = carrier_poller().run(time_left)
        metrics.add_metric(name="CarrierPolls", unit=MetricUnit.Count, value=result["asked"])
        metrics.add_metric(name="CarrierPollsFailed", unit=MetricUnit.Count, value=result["failed"])
    else:
        logger.warning("unknown job; nothing done", extra={"job": event.get("job")})
        return {"job": event.get("job"), "done": False}
    logger.info("job ran", extra={"job": event["job"], **result})
    return {"job": event["job"], **result}
