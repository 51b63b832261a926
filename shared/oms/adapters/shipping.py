"""Where shipping keeps its things: the parcel list rows and print jobs (DynamoDB, the shipping
table), labels and print job PDFs (S3, the labels bucket), and the shipping worker's queue (SQS,
with a per-message delay for the gentle resi polling).

Shipping table:
* pk PARCEL#<parcel id>: the parcel as the lists show it, written only over an older order version;
  GSI by_state (state, ship_by#parcel id) lists each state soonest ship-by first.
* pk JOB#<job id>: a print job (its parcels and outcomes); the PDF itself is in S3.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.errors import BadRequest
from oms.models.shipping import ShippingState

FETCHERS = 8  # labels fetched side by side for a print job (S3 answers each in tens of milliseconds)

MAX_DELAY_SECONDS = 900  # SQS's limit on a message's delay
_to = TypeSerializer()
_from = TypeDeserializer()


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _to.serialize(v) for k, v in values.items() if v is not None}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from.deserialize(v) for k, v in item.items()}


class DynamoShippingStore:
    def __init__(self, table: str) -> None:
        self.table = table

    def upsert_parcels(self, rows: Sequence[dict], version: int) -> None:
        for row in rows:
            sort = f"{row.get('ship_by') or '9999'}#{row['parcel_id']}"
            item = _item({"pk": f"PARCEL#{row['parcel_id']}", "state": row["state"], "sort": sort,
                          "order_version": version, "doc": json.dumps(row, separators=(",", ":"))})  # fmt: skip
            try:
                client("dynamodb").put_item(
                    TableName=self.table, Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR order_version < :v",
                    ExpressionAttributeValues={":v": {"N": str(version)}},
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise  # else: a newer version wrote it already

    def remove_parcels(self, parcel_ids: Sequence[str], version: int) -> None:
        for parcel_id in parcel_ids:
            try:
                client("dynamodb").delete_item(
                    TableName=self.table, Key={"pk": {"S": f"PARCEL#{parcel_id}"}},
                    ConditionExpression="order_version < :v", ExpressionAttributeValues={":v": {"N": str(version)}},
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

    def parcels(
        self,
        state: str,
        limit: int,
        cursor: str | None,
        channel: str | None = None,
        node_id: str | None = None,
        shop_id: str | None = None,
    ) -> tuple[list[dict], str | None]:
        args: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_state", "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "state"}, "ExpressionAttributeValues": {":s": {"S": state}},
        }  # fmt: skip
        if cursor:
            args["ExclusiveStartKey"] = _decode(cursor)
        rows: list[dict] = []
        while True:
            page = client("dynamodb").query(**args, Limit=max(limit * 2, 50))
            for item in page.get("Items", []):
                row = json.loads(_plain(item)["doc"])
                if ((channel and row.get("channel") != channel) or (node_id and row.get("node_id") != node_id)
                        or (shop_id and row.get("shop_id") != shop_id)):  # fmt: skip
                    continue
                rows.append(row)
                if len(rows) == limit:
                    key = {k: item[k] for k in ("pk", "state", "sort")}
                    return rows, _encode(key)
            if "LastEvaluatedKey" not in page:
                return rows, None
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def counts(self) -> dict[str, int]:
        found = {}
        for state in ShippingState:
            args: dict[str, Any] = {
                "TableName": self.table, "IndexName": "by_state", "KeyConditionExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "state"}, "ExpressionAttributeValues": {":s": {"S": state.value}},
                "Select": "COUNT",
            }  # fmt: skip
            total = 0
            while True:
                page = client("dynamodb").query(**args)
                total += int(page.get("Count", 0))
                if "LastEvaluatedKey" not in page:
                    break
                args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            found[state.value] = total
        return found

    def put_print_job(self, job: dict) -> None:
        item = _item({"pk": f"JOB#{job['job_id']}", "doc": json.dumps(job, separators=(",", ":"))})
        client("dynamodb").put_item(TableName=self.table, Item=item)

    def print_job(self, job_id: str) -> dict | None:
        found = client("dynamodb").get_item(TableName=self.table, Key={"pk": {"S": f"JOB#{job_id}"}}).get("Item")
        return json.loads(_plain(found)["doc"]) if found else None


def _encode(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode(cursor: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise BadRequest("cursor is not one this API issued") from None
    if not isinstance(key, dict) or set(key) != {"pk", "state", "sort"}:
        raise BadRequest("cursor is not one this API issued")
    return key


class S3Documents:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str = "application/pdf") -> None:
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        try:
            return client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """Fetched side by side: a print job's 300 labels one after another would spend seconds waiting."""
        unique = list(dict.fromkeys(keys))
        if len(unique) <= 1:
            return {key: self.get(key) for key in unique}
        client("s3")  # built once here, not raced for by the threads
        with ThreadPoolExecutor(max_workers=FETCHERS) as pool:
            return dict(zip(unique, pool.map(self.get, unique), strict=True))

    def url(self, key: str, seconds: int = 900) -> str:
        return client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )


class SqsShippingCommands:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, command: dict, delay_seconds: int = 0) -> None:
        client("sqs").send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(command, separators=(",", ":")),
            DelaySeconds=max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
        )  # fmt: skip
