"""Snapshot parts queue -> counts applied to stock (one message = one part of up to 2,000 rows).

Powertools' batch processor reports each failed part, so SQS retries only
those; a part that fails every retry lands in the DLQ (make replay-dlq).
Applying a part twice changes nothing: its rows are stale the second time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.models.inventory import SnapshotPart
from oms.observability import logger, metrics, tracer
from oms.wiring.stock import snapshots

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def apply_part(record: SQSRecord) -> None:
    part = SnapshotPart.model_validate_json(record.body)
    stats = snapshots().apply(part, datetime.now(UTC))
    metrics.add_metric(name="SnapshotRowsApplied", unit=MetricUnit.Count, value=stats["applied"])
    logger.info("snapshot part applied", extra={"snapshot_id": part.snapshot_id, "part": part.part, **stats})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=apply_part, processor=processor, context=context)
