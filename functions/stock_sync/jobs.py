"""Scheduled stock jobs, one handler: the schedule's input names the job.

* expire_holds (every minute): release checkout holds whose time-to-live passed.
* audit (hourly): check the ledger's invariants, release orphans, repair with an entry.
* reconcile (hourly): compare the latest counts with the OMS's figures; report and correct drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.stock_jobs import Reconciliation, StockAudit
from oms.errors import BadRequest
from oms.observability import logger, metrics, tracer
from oms.wiring.stock import inventory, order_statuses


def _now() -> datetime:
    return datetime.now(UTC)


def run_job(job: str) -> dict[str, Any]:
    if job == "expire_holds":
        expired = inventory().expire_holds(_now())
        metrics.add_metric(name="HoldsExpired", unit=MetricUnit.Count, value=expired)
        return {"job": job, "expired": expired}
    if job == "audit":
        report = StockAudit(inventory(), order_statuses(), _now).run()
        metrics.add_metric(name="AuditFindings", unit=MetricUnit.Count, value=report["findings"])
        return {"job": job, **{k: report[k] for k in ("checked", "findings", "corrected")}}
    if job == "reconcile":
        report = Reconciliation(inventory(), _now).run()
        metrics.add_metric(name="StockDriftFound", unit=MetricUnit.Count, value=report["findings"])
        return {"job": job, **{k: report[k] for k in ("checked", "findings", "corrected")}}
    raise BadRequest(f"unknown job {job!r}; jobs are expire_holds, audit, reconcile")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    result = run_job(str(event.get("job", "")))
    logger.info("stock job done", extra=result)
    return result
