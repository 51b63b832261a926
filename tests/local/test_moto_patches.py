"""The embedded AWS's patches to moto keep AWS's behaviour. Run in a child
process: the patches are process-wide, and other tests use moto in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOCAL = Path(__file__).resolve().parents[2] / "local"

PROGRAM = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})
from oms_local import moto_server
moto_server._STREAM_RECORDS_KEPT = 5
moto_server._patch_moto()
import boto3
from moto import mock_aws

out = {}
with mock_aws():
    ddb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    arn = ddb.create_table(
        TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]

    def read():
        global iterator
        answer = streams.get_records(ShardIterator=iterator)
        iterator = answer["NextShardIterator"]
        return answer["Records"]

    ddb.put_item(TableName="t", Item={"pk": {"S": "a0"}, "blob": {"B": b"\\x00\\xff"}})
    first = read()
    out["first"] = [r["dynamodb"]["Keys"]["pk"]["S"] for r in first]
    out["blob"] = first[0]["dynamodb"]["NewImage"]["blob"]["B"].hex()
    out["when"] = type(first[0]["dynamodb"]["ApproximateCreationDateTime"]).__name__
    for n in range(1, 21):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"a{n}"}})
    out["lagging"] = [r["dynamodb"]["Keys"]["pk"]["S"] for r in read()]
    ddb.put_item(TableName="t", Item={"pk": {"S": "last"}})
    out["next"] = [r["dynamodb"]["Keys"]["pk"]["S"] for r in read()]
print(json.dumps(out))
"""


def test_stream_records_are_wire_format_and_bounded() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(LOCAL)], capture_output=True, text=True, check=True, timeout=120
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # Binary survives as bytes, times as datetimes, exactly as from the real service
    assert out["first"] == ["a0"]
    assert out["blob"] == "00ff"
    assert out["when"] == "datetime"
    # Only the newest records are kept; a lagging reader resumes at the oldest kept one, in order
    assert out["lagging"] == [f"a{n}" for n in range(16, 21)]  # trimmed to 5 (5 + 5 // 10) at every write past it
    assert out["next"] == ["last"]
