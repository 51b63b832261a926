"""Status watchers on a schedule ({"job": "watch"}, every 15 minutes): orders not released, parcels
past their hand-over, parcels without carrier news, parcels late against their promise are flagged
(oms.domain.watchers); a flag whose condition ended is dropped (late ones stay). Idempotent: a run
writes an order only when its flags change."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import container
from oms.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    if event.get("job") != "watch":
        logger.warning("unknown job; nothing done", extra={"job": event.get("job")})
        return {"job": event.get("job"), "done": False}
    result = container.watcher().run(lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="OrdersFlagged", unit=MetricUnit.Count, value=result["flagged"])
    logger.info("watchers ran", extra=result)
    return {"job": "watch", **result}
