"""Wrong answers per key (a client, a client on one number, an order number), in the counters table:
item `<key>` with the count (`value`), the last one's time (`last_at`, epoch seconds), `purge_at`,
`forget_after` past the last one (the table's TTL), and `rev`, the item's version, which put()
compares and sets (one conditional UpdateItem: the function may not PutItem there). An item past its
purge_at that TTL has not removed yet counts as none. What the tracking API throttles wrong contacts
with; also the key client addresses are an HMAC under (SSM `<secrets path>/tracking/hash_key`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.adapters.secrets import SsmSecrets
from oms.domain.tracking import Failures
from oms.settings import get_settings

_log = logging.getLogger("oms")


def ssm_hash_key() -> str | None:
    return SsmSecrets(get_settings().secrets_path).channel_secret("tracking", "hash_key")


class DynamoAttempts:
    def __init__(self, table: str, key_source: Callable[[], str | None] = ssm_hash_key) -> None:
        self.table = table
        self.key_source = key_source
        self._key: bytes | None = None

    def hash_key(self) -> bytes:
        """The SecureString `tracking/hash_key` under the stage's secrets path, read once per container.
        Missing: a key derived from the table's name, which is no secret (someone who can read the table
        and knows its name can still test all 2^32 IPv4 addresses), logged as a warning."""
        if self._key is None:
            secret = self.key_source()
            if secret:
                self._key = secret.encode()
            else:
                _log.warning("tracking/hash_key is not set: client keys are hashed under the table's name")
                self._key = hashlib.sha256(b"oms-tracking|" + self.table.encode()).digest()
        return self._key

    def failures(self, key: str, now: datetime) -> Failures:
        item = (
            client("dynamodb").get_item(TableName=self.table, Key={"name": {"S": key}}, ConsistentRead=True).get("Item")
        )
        version = int(item["rev"]["N"]) if item and "rev" in item else 0
        if not item or "value" not in item or _expired(item, now):
            return Failures(version=version)
        return _failures(item, version)

    def put(self, key: str, seen: Failures, new: Failures, forget_after: timedelta, now: datetime) -> bool:
        if seen.version:
            condition, values = "rev = :seen", {":seen": {"N": str(seen.version)}}
        else:  # no item, or one written before versions
            condition, values = "attribute_not_exists(rev)", {}
        last = new.last_at or now
        try:
            client("dynamodb").update_item(
                TableName=self.table,
                Key={"name": {"S": key}},
                UpdateExpression="SET #v = :v, last_at = :at, purge_at = :purge, rev = :rev",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={
                    ":v": {"N": str(new.count)},
                    ":at": {"N": f"{last.timestamp():.3f}"},
                    ":purge": {"N": str(int((last + forget_after).timestamp()))},
                    ":rev": {"N": str(seen.version + 1)},
                    **values,
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def count_failure(self, key: str, now: datetime, weight: int, forget_after: timedelta) -> Failures:
        dynamodb = client("dynamodb")
        at = {"N": f"{now.timestamp():.3f}"}
        purge = {"N": str(int((now + forget_after).timestamp()))}
        try:
            answer = dynamodb.update_item(
                TableName=self.table,
                Key={"name": {"S": key}},
                UpdateExpression="ADD #v :w SET last_at = :at, purge_at = :purge",
                ConditionExpression="attribute_not_exists(purge_at) OR purge_at > :now",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={
                    ":w": {"N": str(weight)},
                    ":at": at,
                    ":purge": purge,
                    ":now": {"N": str(int(now.timestamp()))},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # Forgotten (past purge_at) but not yet removed: this failure starts the count again.
            answer = dynamodb.update_item(
                TableName=self.table,
                Key={"name": {"S": key}},
                UpdateExpression="SET #v = :w, last_at = :at, purge_at = :purge",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":w": {"N": str(weight)}, ":at": at, ":purge": purge},
                ReturnValues="ALL_NEW",
            )
        return _failures(answer["Attributes"])


def _expired(item: dict[str, Any], now: datetime) -> bool:
    return "purge_at" in item and int(item["purge_at"]["N"]) <= int(now.timestamp())


def _failures(item: dict[str, Any], version: int = 0) -> Failures:
    last = item.get("last_at")
    return Failures(
        count=int(item["value"]["N"]),
        last_at=datetime.fromtimestamp(float(last["N"]), UTC) if last else None,
        version=version,
    )
