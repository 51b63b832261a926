"""SQS, for work handed from one function to another."""

from __future__ import annotations

from oms.adapters.aws import client


class SqsQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, body: str) -> None:
        client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)
