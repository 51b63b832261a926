"""SQS, for work handed from one function to another."""

from __future__ import annotations

from oms.adapters.aws import client


class SqsQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, body: str) -> None:
        client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """The message comes back after `seconds` instead of the queue's visibility timeout (at most 12 h)."""
        client("sqs").change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=min(seconds, 43_200)
        )
