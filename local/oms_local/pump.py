"""Event source mappings: poll moto (never bypass it) and invoke the function workers.

One thread per source. Every poll is a short request (SQS WaitTimeSeconds=0): the moto
server is single-threaded, so a long poll would stall every other client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .cron import Cron, rate_seconds
from .resources import CreatedResources
from .state import encode_item
from .template import ACCOUNT_ID, REGION, RuleSource, ScheduleSource, SqsSource, StreamSource, Template
from .workers import InvokeResult, WorkerManager

log = logging.getLogger("oms_local.pump")

ClientFactory = Callable[[str], Any]

IDLE_SLEEP_MIN_S = 0.02
IDLE_SLEEP_MAX_S = 0.25
RETRY_BACKOFF_MIN_S = 0.1  # locally short; AWS backs off for much longer
RETRY_BACKOFF_MAX_S = 2.0
# How long drain() waits for a stack to settle before calling it stuck: generous, because a
# busy 2-core machine running a count of thousands of SKUs takes minutes, and a settled stack returns at once.
DRAIN_DEADLINE_S = 300.0
ASYNC_MAX_ATTEMPTS = 3  # asynchronous invokes (EventBridge rules): 1 try + 2 retries, then dropped


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def lambda_stream_record(r: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record (as boto3 returns it) as Lambda hands it to a function."""
    d = r["dynamodb"]
    created = d.get("ApproximateCreationDateTime")
    ddb: dict[str, Any] = {
        "ApproximateCreationDateTime": int(created.timestamp()) if created else int(time.time()),
        "Keys": encode_item(d["Keys"]),
        "SequenceNumber": d["SequenceNumber"],
        "SizeBytes": d.get("SizeBytes", 0),
        "StreamViewType": d.get("StreamViewType", "NEW_AND_OLD_IMAGES"),
    }
    for image in ("NewImage", "OldImage"):
        if image in d:
            ddb[image] = encode_item(d[image])
    return {
        "eventID": r["eventID"],
        "eventName": r["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    }


@dataclass
class SourceCounters:
    invocations: int = 0
    errors: int = 0
    records: int = 0  # records/messages handed to the function and finished (done or given up)
    failed_to_destination: int = 0


class Source(threading.Thread, ABC):
    """A polling loop. ``poll()`` returns (did_work, settled); settled = nothing pending at all."""

    def __init__(self, name: str, function_id: str, workers: WorkerManager, client: ClientFactory) -> None:
        super().__init__(name=f"pump-{name}", daemon=True)
        self.source_name = name
        self.function_id = function_id
        self.workers = workers
        self.client = client
        self.counters = SourceCounters()
        self.cycles = 0
        self.settled = False
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def prepare(self) -> None:
        """Synchronous set-up before the thread starts (e.g. positioning stream iterators)."""

    @abstractmethod
    def poll(self) -> tuple[bool, bool]:
        """One round of work: (did any work, is settled)."""

    def run(self) -> None:
        delay = IDLE_SLEEP_MIN_S
        while not self.stopping.is_set():
            try:
                did_work, settled = self.poll()
            except Exception:
                log.exception("%s: poll failed", self.source_name)
                did_work, settled = False, False
            self.settled = settled
            self.cycles += 1
            if did_work:
                delay = IDLE_SLEEP_MIN_S
                continue
            self.wake.wait(delay)
            self.wake.clear()
            delay = min(delay * 2, IDLE_SLEEP_MAX_S)

    def invoke(self, event: Any) -> InvokeResult:
        result = self.workers.invoke(self.function_id, event)
        self.counters.invocations += 1
        if not result.ok:
            self.counters.errors += 1
            err = result.error or {}
            log.warning(
                "%s: %s failed: %s: %s",
                self.source_name,
                self.function_id,
                err.get("errorType"),
                err.get("errorMessage"),
            )
        return result

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def _failed_from(result: InvokeResult, ids: list[str], report_item_failures: bool) -> int | None:
    """Index of the first failed record, or None when the whole batch succeeded."""
    if not result.ok:
        return 0
    payload = result.payload
    if not report_item_failures or not isinstance(payload, dict):
        return None
    failures = payload.get("batchItemFailures") or []
    indexes = []
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not ident or ident not in ids:
            return 0  # an invalid identifier fails the whole batch, as in Lambda
        indexes.append(ids.index(ident))
    return min(indexes) if indexes else None


# ---------------------------------------------------------------- SQS


class SqsQueueSource(Source):
    def __init__(
        self,
        spec: SqsSource,
        queue_url: str,
        workers: WorkerManager,
        client: ClientFactory,
        unwrap_eventbridge: bool = False,
    ) -> None:
        super().__init__(f"{spec.function_id}.{spec.event_name}", spec.function_id, workers, client)
        self.spec = spec
        self.queue_url = queue_url
        self.unwrap = unwrap_eventbridge  # rule targets: the body is the EventBridge event itself

    def _receive(self, sqs: Any, n: int) -> list[dict[str, Any]]:
        resp = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, n)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return resp.get("Messages", [])

    def _queue_empty(self, sqs: Any) -> bool:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attrs = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return all(int(attrs.get(n, 0)) == 0 for n in names)

    def poll(self) -> tuple[bool, bool]:
        sqs = self.client("sqs")
        batch_size = 1 if self.unwrap else self.spec.batch_size
        messages = self._receive(sqs, batch_size)
        if not messages:
            return False, self._queue_empty(sqs)
        window_end = time.monotonic() + self.spec.batching_window_s
        while len(messages) < batch_size and not self.stopping.is_set():
            more = self._receive(sqs, batch_size - len(messages))
            messages += more
            if not more:
                if time.monotonic() >= window_end:
                    break
                time.sleep(min(0.05, max(0.0, window_end - time.monotonic())))
        if self.unwrap:
            self._deliver_async(sqs, messages[0])
        else:
            self._deliver_batch(sqs, messages)
        return True, False

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        attrs = {}
        for name, a in (m.get("MessageAttributes") or {}).items():
            attr: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": a["DataType"]}
            if "StringValue" in a:
                attr["stringValue"] = a["StringValue"]
            if "BinaryValue" in a:
                attr["binaryValue"] = base64.b64encode(a["BinaryValue"]).decode()
            attrs[name] = attr
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": attrs,
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.spec.queue_arn,
            "awsRegion": REGION,
        }

    def _deliver_batch(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        result = self.invoke({"Records": [self._record(m) for m in messages]})
        if not result.ok:
            return  # delete none: every message reappears after the visibility timeout
        failed: set[str] = set()
        if self.spec.report_batch_item_failures and isinstance(result.payload, dict):
            ids = [m["MessageId"] for m in messages]
            for failure in result.payload.get("batchItemFailures") or []:
                ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
                if not ident or ident not in ids:
                    return  # invalid response: Lambda treats the whole batch as failed
                failed.add(ident)
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete_messages(sqs, done)
        self.counters.records += len(done)

    def _deliver_async(self, sqs: Any, message: dict[str, Any]) -> None:
        result = self.invoke(json.loads(message["Body"]))
        attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if result.ok or attempts >= ASYNC_MAX_ATTEMPTS:
            if not result.ok:
                log.error("%s: event dropped after %d attempts", self.source_name, attempts)
            self._delete_messages(sqs, [message])
            self.counters.records += 1
            return
        sqs.change_message_visibility(  # retry soon (AWS waits 1 then 2 minutes)
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=attempts
        )

    def _delete_messages(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        for i in range(0, len(messages), 10):
            chunk = messages[i : i + 10]
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)]
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)


# ---------------------------------------------------------------- DynamoDB streams


class DynamoStreamSource(Source):
    def __init__(
        self,
        spec: StreamSource,
        stream_arn: str,
        function_arn: str,
        workers: WorkerManager,
        client: ClientFactory,
        on_failure: Callable[[str, dict[str, Any]], None],
        start_at_latest: bool = False,
        table_name: str | None = None,
        resume_after: int | None = None,
        checkpoint: Callable[[str, str, int | str], int] | None = None,
    ) -> None:
        super().__init__(f"{spec.function_id}.{spec.event_name}", spec.function_id, workers, client)
        self.spec = spec
        self.stream_arn = stream_arn
        self.function_arn = function_arn
        self.on_failure = on_failure
        self.start_at_latest = start_at_latest
        self.iterators: dict[str, str] = {}  # shard id -> next iterator
        # Durable position (oms_local.durable): the last record finished, told to moto after each batch.
        self.table_name = table_name
        self.resume_after = resume_after
        self.checkpoint = checkpoint if table_name else None

    def prepare(self) -> None:
        streams = self.client("dynamodbstreams")
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        position = "LATEST" if self.start_at_latest else self.spec.starting_position
        for shard in shards:
            kwargs: dict[str, Any] = {"ShardIteratorType": position}
            if self.resume_after is not None:  # after the last batch finished before the stop or crash
                kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": str(self.resume_after)}
            self.iterators[shard["ShardId"]] = streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], **kwargs
            )["ShardIterator"]
        if self.checkpoint is not None:
            assert self.table_name is not None
            self.checkpoint(
                self.source_name, self.table_name, self.resume_after if self.resume_after is not None else position
            )

    def poll(self) -> tuple[bool, bool]:
        streams = self.client("dynamodbstreams")
        did_work = False
        for shard_id, shard_iterator in list(self.iterators.items()):
            resp = streams.get_records(ShardIterator=shard_iterator, Limit=self.spec.batch_size)
            records, iterator = resp["Records"], resp.get("NextShardIterator")
            window_end = time.monotonic() + self.spec.batching_window_s
            while records and len(records) < self.spec.batch_size and iterator and not self.stopping.is_set():
                if time.monotonic() >= window_end:
                    break
                time.sleep(min(0.05, max(0.0, window_end - time.monotonic())))
                more = streams.get_records(ShardIterator=iterator, Limit=self.spec.batch_size - len(records))
                records += more["Records"]
                iterator = more.get("NextShardIterator")
            if iterator is None:
                del self.iterators[shard_id]  # closed shard
            else:
                self.iterators[shard_id] = iterator
            if records:
                did_work = True
                self._deliver([self._record(r) for r in records], shard_id)
                if self.checkpoint is not None and not self.stopping.is_set():
                    self._checkpoint(records[-1]["dynamodb"]["SequenceNumber"])
        return did_work, not did_work

    def _checkpoint(self, sequence_number: str) -> None:
        assert self.checkpoint is not None and self.table_name is not None
        try:
            self.checkpoint(self.source_name, self.table_name, int(sequence_number))
        except Exception:  # the batch is done either way; after a crash it would be delivered again
            log.exception("%s: could not record the stream position", self.source_name)

    def _record(self, r: dict[str, Any]) -> dict[str, Any]:
        return lambda_stream_record(r, self.stream_arn)

    def _deliver(self, records: list[dict[str, Any]], shard_id: str) -> None:
        """Deliver until every record succeeded or went to the on-failure destination, in order."""
        pending: list[list[dict[str, Any]]] = [records]
        while pending and not self.stopping.is_set():
            batch = pending.pop(0)
            attempts, backoff = 0, RETRY_BACKOFF_MIN_S
            while not self.stopping.is_set():
                result = self.invoke({"Records": batch})
                attempts += 1
                ids = [r["dynamodb"]["SequenceNumber"] for r in batch]
                first_failed = _failed_from(result, ids, self.spec.report_batch_item_failures)
                if first_failed is None:
                    self.counters.records += len(batch)
                    break
                self.counters.records += first_failed  # records before the failed one are done
                batch = batch[first_failed:]
                if not result.ok and self.spec.bisect_on_error and len(batch) > 1:
                    mid = len(batch) // 2
                    pending[:0] = [batch[:mid], batch[mid:]]  # first half first: keep order
                    break
                limit = self.spec.maximum_retry_attempts
                if limit >= 0 and attempts > limit:
                    self._give_up(batch, shard_id, result, attempts)
                    break
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, RETRY_BACKOFF_MAX_S)

    def _give_up(self, batch: list[dict[str, Any]], shard_id: str, result: InvokeResult, attempts: int) -> None:
        self.counters.records += len(batch)
        self.counters.failed_to_destination += len(batch)
        log.error("%s: %d record(s) failed %d attempts", self.source_name, len(batch), attempts)
        if not self.spec.on_failure_arn:
            return
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not result.ok:
            response_context["functionError"] = "Unhandled"
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        self.on_failure(self.spec.on_failure_arn, message)


# ---------------------------------------------------------------- schedules


class ScheduleThread(Source):
    """Fires a function on a rate()/cron() schedule. Not part of drain()."""

    def __init__(self, spec: ScheduleSource, workers: WorkerManager, client: ClientFactory, scale: float) -> None:
        super().__init__(f"{spec.function_id}.{spec.event_name}", spec.function_id, workers, client)
        self.spec = spec
        self.scale = scale  # >1 speeds rate() schedules up (tests); cron keeps wall-clock time
        self.rate = rate_seconds(spec.expression)
        self.cron = None if self.rate is not None else Cron(spec.expression)
        self.rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{spec.function_id}-{spec.event_name}"

    def next_delay(self) -> float:
        if self.rate is not None:
            return self.rate / self.scale
        assert self.cron is not None
        now = datetime.now(UTC)
        return (self.cron.next_after(now) - now).total_seconds()

    def event(self) -> Any:
        if self.spec.input is not None:
            return self.spec.input
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events" if not self.spec.v2 else "aws.scheduler",
            "account": ACCOUNT_ID,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self.rule_arn],
            "detail": {},
        }

    def fire(self) -> InvokeResult:
        result = self.invoke(self.event())
        self.counters.records += 1
        return result

    def run(self) -> None:
        while not self.stopping.wait(self.next_delay()):
            self.fire()

    def poll(self) -> tuple[bool, bool]:  # pragma: no cover - schedules do not poll
        return False, True


# ---------------------------------------------------------------- the pump


class Pump:
    def __init__(
        self,
        template: Template,
        resources: CreatedResources,
        workers: WorkerManager,
        client: ClientFactory,
        start_at_latest: bool = False,
        schedule_scale: float = 1.0,
        checkpoints: dict[str, int] | None = None,
        checkpoint: Callable[[str, str, int | str], int] | None = None,
    ) -> None:
        checkpoints = checkpoints or {}
        self.template = template
        self.resources = resources
        self.workers = workers
        self.client = client
        self.sources: list[Source] = []
        self.schedules: list[ScheduleThread] = []
        self.rule_queues: dict[str, str] = {}  # "Function.Event" -> hidden queue URL
        functions = template.functions()
        for spec in functions.values():
            for sqs_spec in spec.sqs_sources:
                if sqs_spec.enabled:
                    url = self._queue_url(sqs_spec.queue_arn)
                    self.sources.append(SqsQueueSource(sqs_spec, url, workers, client))
            for stream in spec.stream_sources:
                if stream.enabled:
                    arn = stream.stream_arn
                    if stream.table_logical_id in resources.streams:
                        arn = resources.streams[stream.table_logical_id]  # the real label from moto
                    name = f"{stream.function_id}.{stream.event_name}"
                    self.sources.append(
                        DynamoStreamSource(
                            stream,
                            arn,
                            spec.arn,
                            workers,
                            client,
                            self._send_on_failure,
                            start_at_latest,
                            table_name=resources.tables.get(stream.table_logical_id or ""),
                            resume_after=checkpoints.get(name),
                            checkpoint=checkpoint,
                        )
                    )
            for sched in spec.schedules:
                if sched.enabled:
                    self.schedules.append(ScheduleThread(sched, workers, client, schedule_scale))
            for rule in spec.rules:
                if rule.enabled:
                    self.sources.append(self._rule_source(rule))

    def _queue_url(self, arn: str) -> str:
        lid = self.template.logical_id_for("Arn", arn)
        if lid in self.resources.queues:
            return self.resources.queues[lid]
        return self.client("sqs").get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]

    def _rule_source(self, rule: RuleSource) -> SqsQueueSource:
        """EventBridge -> hidden SQS queue in moto -> pumped to the function, unwrapped."""
        sqs, events = self.client("sqs"), self.client("events")
        key = f"{rule.function_id}-{rule.event_name}"
        url = sqs.create_queue(QueueName=f"oms-local-rule-{key}"[:80])["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        name = key[:64]
        events.put_rule(Name=name, EventBusName=rule.bus_name, EventPattern=json.dumps(rule.pattern), State="ENABLED")
        target: dict[str, Any] = {"Id": "oms-local-worker", "Arn": arn}
        if rule.input is not None:
            target["Input"] = rule.input
        if rule.input_path is not None:
            target["InputPath"] = rule.input_path
        events.put_targets(Rule=name, EventBusName=rule.bus_name, Targets=[target])
        self.rule_queues[key] = url
        spec = SqsSource(rule.function_id, rule.event_name, None, arn, batch_size=1)
        return SqsQueueSource(spec, url, self.workers, self.client, unwrap_eventbridge=True)

    def _send_on_failure(self, destination_arn: str, message: dict[str, Any]) -> None:
        body = json.dumps(message)
        if ":sns:" in destination_arn:
            self.client("sns").publish(TopicArn=destination_arn, Message=body)
        else:
            self.client("sqs").send_message(QueueUrl=self._queue_url(destination_arn), MessageBody=body)

    def start(self) -> None:
        for source in self.sources:
            source.prepare()
        for thread in [*self.sources, *self.schedules]:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        threads: list[Source] = [*self.sources, *self.schedules]
        for thread in threads:
            thread.stop()
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout)

    def fire_schedule(self, function_id: str, event_name: str | None = None) -> InvokeResult:
        """Fire a schedule now (handy in tests instead of waiting for the rate)."""
        for s in self.schedules:
            if s.function_id == function_id and event_name in (None, s.spec.event_name):
                return s.fire()
        raise KeyError(f"no schedule for {function_id} {event_name or ''}")

    def _work_total(self) -> int:
        return sum(p.stats.invocations for p in self.workers.pools.values())

    def drain(self, timeout: float = DRAIN_DEADLINE_S) -> None:
        """Block until queues are empty, streams caught up and nothing runs; TimeoutError if not.
        The deadline only bounds a stuck stack: drain returns as soon as all is done."""
        deadline = time.monotonic() + timeout
        while True:
            work_mark = self._work_total()
            marks = {s: s.cycles for s in self.sources}
            for s in self.sources:
                s.wake.set()
            # Two completed cycles guarantee one full poll that started after the mark.
            while any(s.cycles < marks[s] + 2 for s in self.sources if s.is_alive()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"drain timed out; busy: {self._busy()}")
                time.sleep(0.005)
            if (
                all(s.settled for s in self.sources if s.is_alive())
                and self.workers.in_flight == 0
                and self._work_total() == work_mark
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"drain timed out; busy: {self._busy()}")
            time.sleep(0.01)

    def _busy(self) -> list[str]:
        busy = [s.source_name for s in self.sources if not s.settled]
        if self.workers.in_flight:
            busy.append(f"{self.workers.in_flight} invocation(s) in flight")
        return busy

    def counters(self) -> dict[str, Any]:
        return {
            "functions": {
                lid: {
                    "invocations": p.stats.invocations,
                    "errors": p.stats.errors,
                    "duration_ms": round(p.stats.duration_ms, 1),
                }
                for lid, p in self.workers.pools.items()
            },
            "sources": {s.source_name: vars(s.counters).copy() for s in [*self.sources, *self.schedules]},
        }
