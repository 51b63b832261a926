"""ChannelFetchQueue: the orders to fetch from the marketplaces' APIs."""

from __future__ import annotations

from oms.adapters.aws import client
from oms.domain.channel_sync import FetchQueue, FetchRequest
from oms.errors import DependencyError

BATCH = 10  # SendMessageBatch's limit


class SqsFetchQueue(FetchQueue):
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, requests: list[FetchRequest]) -> None:
        for start in range(0, len(requests), BATCH):
            chunk = requests[start : start + BATCH]
            entries = [{"Id": str(n), "MessageBody": request.to_message()} for n, request in enumerate(chunk)]
            answer = client("sqs").send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                # The caller's retry sends the whole batch again: the fetcher is idempotent.
                raise DependencyError(f"{len(answer['Failed'])} fetch requests not queued")

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """The message comes back after `seconds` instead of the queue's visibility timeout."""
        client("sqs").change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
