"""The embedded AWS survives a hard crash: the journal (fsynced before moto answers), fork
snapshots, replay, and where the stream consumers resume (oms_local.durable)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_helpers import scan, wait_for

from oms_local import LocalRuntime


def _get(rt: LocalRuntime, pk: str) -> dict[str, Any] | None:
    return rt.client("dynamodb").get_item(TableName=rt.table_name("ItemsTable"), Key={"pk": {"S": pk}}).get("Item")


def _messages(rt: LocalRuntime, logical_id: str) -> dict[str, str]:
    """MessageId -> body of every visible message; they are made visible again afterwards."""
    sqs, url = rt.client("sqs"), rt.queue_url(logical_id)
    found: dict[str, str] = {}
    handles: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages"):
        found.update({m["MessageId"]: m["Body"] for m in batch})
        handles += [m["ReceiptHandle"] for m in batch]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return found


def _stream_results(rt: LocalRuntime) -> dict[str, dict[str, Any]]:
    return {
        i["pk"]["S"]: json.loads(i["data"]["S"])["record"]
        for i in scan(rt, "ResultsTable")
        if i["pk"]["S"].startswith("stream#")
    }


def test_every_answered_change_survives_a_crash_without_a_snapshot(make_runtime: Any) -> None:
    rt = make_runtime(snapshot_interval_s=0)
    ddb, sqs = rt.client("dynamodb"), rt.client("sqs")
    table = rt.table_name("ItemsTable")
    ddb.put_item(TableName=table, Item={"pk": {"S": "bin"}, "b": {"B": b"\x00\xff"}, "n": {"N": "1"}})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "bin"}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "gone"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "gone"}})
    ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": f"batch{i}"}}}} for i in range(3)]})
    with pytest.raises(ClientError):  # a cancelled transaction leaves nothing, after the restart either
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "txn"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "bin"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    dlq = rt.queue_url("WorkDLQ")
    kept = sqs.send_message(QueueUrl=dlq, MessageBody="kept")["MessageId"]
    sqs.send_message(QueueUrl=dlq, MessageBody="deleted")
    (deleted,) = [
        m for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"] if m["Body"] == "deleted"
    ]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=deleted["ReceiptHandle"])
    rt.drain(timeout=60)
    data_dir = rt.data_dir
    assert not (data_dir / "state" / "snapshot.json").exists()
    rt.kill()  # SIGKILL: no drain, no snapshot

    rt2 = make_runtime(data_dir=data_dir, snapshot_interval_s=0)
    assert rt2.state_opened["existed"] and rt2.state_opened["replayed"] > 0
    assert _get(rt2, "bin") == {"pk": {"S": "bin"}, "b": {"B": b"\x00\xff"}, "n": {"N": "2"}}
    assert _get(rt2, "gone") is None and _get(rt2, "txn") is None
    assert all(_get(rt2, f"batch{i}") for i in range(3))
    assert _messages(rt2, "WorkDLQ") == {kept: "kept"}  # the same message, by id
    # Crash again straight after the replay: replaying the same journal again gives the same state.
    rt2.kill()
    rt3 = make_runtime(data_dir=data_dir, snapshot_interval_s=0)
    assert _get(rt3, "bin") == {"pk": {"S": "bin"}, "b": {"B": b"\x00\xff"}, "n": {"N": "2"}}
    assert _messages(rt3, "WorkDLQ") == {kept: "kept"}
    assert rt3.restored["ItemsTable"] == 4


def test_stream_consumers_resume_where_they_were(make_runtime: Any) -> None:
    rt = make_runtime(snapshot_interval_s=0)
    ddb = rt.client("dynamodb")
    table = rt.table_name("ItemsTable")
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    rt.drain(timeout=60)
    assert set(_stream_results(rt)) == {"stream#a#INSERT"}
    assert rt.save_state()  # a snapshot (forked), then more changes in the journal only
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "v": {"N": "1"}})
    rt.drain(timeout=60)
    # The consumer stops (as if the crash came while it was behind); two more changes wait in the stream.
    (source,) = [s for s in rt.pump.sources if s.function_id == "StreamFunction"]
    source.stop()
    source.join(30)
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"N": "2"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}, "v": {"N": "1"}})
    data_dir = rt.data_dir
    rt.kill()

    rt2 = make_runtime(data_dir=data_dir, snapshot_interval_s=0)
    rt2.drain(timeout=60)
    results = _stream_results(rt2)
    # Only what the consumer had not finished is delivered again: not a's INSERT, not c's.
    assert rt2.counters()["sources"]["StreamFunction.Items"]["records"] == 2
    assert set(results) == {"stream#a#INSERT", "stream#c#INSERT", "stream#a#MODIFY", "stream#b#INSERT"}
    modify = results["stream#a#MODIFY"]["dynamodb"]
    assert modify["OldImage"]["v"] == {"N": "1"} and modify["NewImage"]["v"] == {"N": "2"}  # as it happened
    # Restored items made no stream records of their own.
    ddb2 = rt2.client("dynamodb")
    ddb2.put_item(TableName=rt2.table_name("ItemsTable"), Item={"pk": {"S": "d"}})
    rt2.drain(timeout=60)
    assert rt2.counters()["sources"]["StreamFunction.Items"]["records"] == 3
    rt2.kill()

    rt3 = make_runtime(data_dir=data_dir, snapshot_interval_s=0)
    rt3.drain(timeout=60)
    assert rt3.counters()["sources"]["StreamFunction.Items"]["records"] == 0  # all finished before that crash
    assert "stream#d#INSERT" in _stream_results(rt3)


def test_snapshot_truncates_the_journal_and_a_torn_line_is_ignored(make_runtime: Any) -> None:
    rt = make_runtime(snapshot_interval_s=0)
    ddb = rt.client("dynamodb")
    table = rt.table_name("ItemsTable")
    for i in range(5):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"s{i}"}})
    rt.drain(timeout=60)
    state = rt.data_dir / "state"
    before = sorted(p.name for p in state.glob("journal-*.jsonl"))
    assert rt.save_state()
    after = sorted(p.name for p in state.glob("journal-*.jsonl"))
    assert len(after) == 1 and after[0] not in before  # what the snapshot covers is gone
    assert rt.state.snapshot()["started"] is False  # nothing changed since: no periodic snapshot
    ddb.put_item(TableName=table, Item={"pk": {"S": "after"}})
    rt.drain(timeout=60)
    data_dir = rt.data_dir
    rt.kill()
    with open(state / after[0], "ab") as fh:  # the crash came in the middle of a write
        fh.write(b'{"n": 99, "d": [["fixture-items-local", {"pk": {"S": "torn"}}, {"pk"')
    rt2 = make_runtime(data_dir=data_dir, snapshot_interval_s=0)
    assert {i["pk"]["S"] for i in scan(rt2, "ItemsTable")} == {"s0", "s1", "s2", "s3", "s4", "after"}


def test_state_from_before_the_journal_is_loaded(make_runtime: Any, tmp_path: Any) -> None:
    state = tmp_path / "old" / "state"
    state.mkdir(parents=True)
    (state / "tables.json").write_text(json.dumps({"ItemsTable": [{"pk": {"S": "old"}, "b": {"B": "AQI="}}]}))
    (state / "queues.json").write_text(
        json.dumps({"WorkDLQ": [{"Body": "parked", "MessageAttributes": {}, "Attributes": {}}]})
    )
    rt = make_runtime(data_dir=tmp_path / "old", snapshot_interval_s=0)
    assert rt.restored == {"ItemsTable": 1, "WorkDLQ": 1}
    assert _get(rt, "old") == {"pk": {"S": "old"}, "b": {"B": b"\x01\x02"}}
    assert list(_messages(rt, "WorkDLQ").values()) == ["parked"]
    assert rt.save_state()
    assert (state / "snapshot.json").exists() and not (state / "tables.json").exists()


def test_snapshot_in_the_background_while_serving(make_runtime: Any) -> None:
    rt = make_runtime(snapshot_interval_s=0)
    ddb = rt.client("dynamodb")
    table = rt.table_name("ResultsTable")  # no stream
    for start in range(0, 2000, 25):
        batch = [{"PutRequest": {"Item": {"pk": {"S": f"bulk{i}"}}}} for i in range(start, start + 25)]
        ddb.batch_write_item(RequestItems={table: batch})
    result = rt.state.snapshot(wait=False)
    assert result["started"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "during"}})  # served while the child writes
    wait_for(lambda: not rt.state.status()["snapshot_running"], timeout=120)
    assert rt.state.status()["last_snapshot"]["ok"]
    data_dir = rt.data_dir
    rt.kill()
    rt2 = make_runtime(data_dir=data_dir, snapshot_interval_s=0)
    assert rt2.restored["ResultsTable"] >= 2001
    assert rt2.client("dynamodb").get_item(TableName=rt2.table_name("ResultsTable"), Key={"pk": {"S": "during"}})[
        "Item"
    ]
