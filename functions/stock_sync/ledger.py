"""Inventory stream -> the stock ledger (one entry per stock item change).

Entries are keyed by the stream's sequence number, so a retried batch
writes the same entries again and nothing is counted twice.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.ledger import ledger_entry
from oms.observability import logger, metrics, tracer
from oms.wiring.stock import inventory


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    entries = []
    for record in DynamoDBStreamEvent(event).records:
        stream = record.dynamodb
        if stream is None:
            continue
        entry = ledger_entry(stream.old_image, stream.new_image, str(stream.sequence_number))
        if entry is not None:
            entries.append(entry)
    # One batch write for the whole batch: a failure retries the batch, and rewriting is harmless.
    inventory().store.put_movements(entries)
    metrics.add_metric(name="LedgerEntries", unit=MetricUnit.Count, value=len(entries))
    return {"batchItemFailures": []}
