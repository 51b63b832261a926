"""Create the template's resources in moto through boto3 (idempotently)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .template import Template

log = logging.getLogger("oms_local.resources")

# Resources the runtime itself plays (not created in moto).
_EMULATED_TYPES: dict[str, str] = {
    "AWS::Serverless::HttpApi": "served by the local gateway",
    "AWS::Serverless::Api": "served by the local gateway (HttpApi semantics)",
    "AWS::Serverless::LayerVersion": "put on the workers' sys.path",
    "AWS::Lambda::LayerVersion": "put on the workers' sys.path",
    "AWS::Serverless::Function": "run by local worker processes",
}
# Resources with no local counterpart; they are listed, not created.
_SKIPPED_TYPES: dict[str, str] = {
    "AWS::CloudWatch::Alarm": "alarms are not evaluated locally",
    "AWS::SQS::QueuePolicy": "queue policies are not enforced locally",
}


@dataclass
class CreatedResources:
    created: list[str] = field(default_factory=list)
    emulated: dict[str, str] = field(default_factory=dict)  # logical id -> how
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> reason
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    buses: dict[str, str] = field(default_factory=dict)  # logical id -> bus name
    streams: dict[str, str] = field(default_factory=dict)  # table logical id -> stream ARN


ClientFactory = Callable[[str], Any]
Props = dict[str, Any]


def _exists(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return any(s in code for s in ("AlreadyExists", "ResourceInUse", "InvalidParameterValue"))


def create_all(template: Template, client: ClientFactory) -> CreatedResources:
    out = CreatedResources()
    order = [
        ("AWS::Logs::LogGroup", _log_group),
        ("AWS::DynamoDB::Table", _table),
        ("AWS::SQS::Queue", _queue),  # queues with a RedrivePolicy are created after their DLQ
        ("AWS::S3::Bucket", _bucket),
        ("AWS::SNS::Topic", _topic),
        ("AWS::SNS::Subscription", _subscription),
        ("AWS::Events::EventBus", _bus),
        ("AWS::Events::Archive", _archive),
        ("AWS::Events::Rule", _rule),
    ]
    handled = {t for t, _ in order}
    for kind, create in order:
        items = list(template.resources_of(kind).items())
        if kind == "AWS::SQS::Queue":
            items.sort(key=lambda kv: "RedrivePolicy" in (kv[1].get("Properties") or {}))
        for lid, _res in items:
            props = template.resolve(template.resources[lid].get("Properties") or {})
            create(template, client, lid, props, out)
            out.created.append(lid)
    for lid, res in template.resources.items():
        kind = res.get("Type", "")
        if kind in _EMULATED_TYPES:
            out.emulated[lid] = _EMULATED_TYPES[kind]
        elif kind not in handled:
            out.skipped[lid] = _SKIPPED_TYPES.get(kind, f"{kind} is not supported locally")
    return out


def _bucket(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    """The bucket (lifecycle rules and encryption are AWS's business: not needed to serve files locally)."""
    s3 = client("s3")
    try:
        s3.create_bucket(Bucket=t.ref(lid))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _log_group(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    logs = client("logs")
    name = t.ref(lid)
    try:
        logs.create_log_group(logGroupName=name)
    except ClientError as exc:
        if not _exists(exc):
            raise
    if p.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))


def _table(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    ddb = client("dynamodb")
    name = t.ref(lid)
    billing = p.get("BillingMode", "PROVISIONED")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": p["KeySchema"],
        "AttributeDefinitions": p["AttributeDefinitions"],
        "BillingMode": billing,
    }
    default_tp = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = _throughput(p.get("ProvisionedThroughput"), default_tp)
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if p.get(key):
            indexes = []
            for declared in p[key]:
                index = dict(declared)
                if billing == "PROVISIONED" and key == "GlobalSecondaryIndexes":
                    declared_tp = declared.get("ProvisionedThroughput")
                    index["ProvisionedThroughput"] = _throughput(declared_tp, default_tp)
                else:
                    index.pop("ProvisionedThroughput", None)
                indexes.append(index)
            kwargs[key] = indexes
    stream = p.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    try:
        desc = ddb.create_table(**kwargs)["TableDescription"]
    except ClientError as exc:
        if not _exists(exc):
            raise
        desc = ddb.describe_table(TableName=name)["Table"]
    ttl = p.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        try:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        except ClientError as exc:  # already enabled on a reused backend
            log.debug("TTL on %s: %s", name, exc)
    out.tables[lid] = name
    if desc.get("LatestStreamArn"):
        out.streams[lid] = desc["LatestStreamArn"]
        t.set_attribute(lid, "StreamArn", desc["LatestStreamArn"])


def _throughput(value: dict[str, Any] | None, default: dict[str, int]) -> dict[str, int]:
    if not value:
        return dict(default)
    return {k: int(v) for k, v in value.items()}


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "SqsManagedSseEnabled",
)


def _queue(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    sqs = client("sqs")
    name = t.get_att(lid, "QueueName")
    attributes = {k: _attr_str(p[k]) for k in _QUEUE_ATTRIBUTES if k in p}
    if p.get("RedrivePolicy"):
        policy = dict(p["RedrivePolicy"])
        policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
        attributes["RedrivePolicy"] = json.dumps(policy)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    out.queues[lid] = url
    t.set_attribute(lid, "QueueUrl", url)


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _topic(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    arn = client("sns").create_topic(Name=t.get_att(lid, "TopicName"))["TopicArn"]
    t.set_attribute(lid, "TopicArn", arn)


def _subscription(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    if p.get("Protocol") != "sqs":
        out.skipped[lid] = f"SNS {p.get('Protocol')} subscriptions are not delivered locally"
        return
    client("sns").subscribe(TopicArn=p["TopicArn"], Protocol="sqs", Endpoint=p["Endpoint"])


def _bus(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    name = t.ref(lid)
    try:
        client("events").create_event_bus(Name=name)
    except ClientError as exc:
        if not _exists(exc):
            raise
    out.buses[lid] = name


def _archive(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    kwargs: dict[str, Any] = {"ArchiveName": t.ref(lid), "EventSourceArn": p["SourceArn"]}
    if p.get("EventPattern"):
        kwargs["EventPattern"] = json.dumps(p["EventPattern"])
    if p.get("RetentionDays") is not None:
        kwargs["RetentionDays"] = int(p["RetentionDays"])
    if p.get("Description"):
        kwargs["Description"] = p["Description"]
    try:
        client("events").create_archive(**kwargs)
    except ClientError as exc:
        if not _exists(exc):
            raise


def _rule(t: Template, client: ClientFactory, lid: str, p: Props, out: CreatedResources) -> None:
    events = client("events")
    bus = p.get("EventBusName", "default")
    kwargs: dict[str, Any] = {"Name": t.ref(lid), "EventBusName": bus, "State": p.get("State", "ENABLED")}
    if p.get("EventPattern"):
        kwargs["EventPattern"] = json.dumps(p["EventPattern"])
    if p.get("ScheduleExpression"):
        kwargs["ScheduleExpression"] = p["ScheduleExpression"]
    events.put_rule(**kwargs)
    targets = []
    for target in p.get("Targets") or []:
        if ":sqs:" in target["Arn"] or ":sns:" in target["Arn"] or ":events:" in target["Arn"]:
            targets.append({k: v for k, v in target.items() if k in ("Id", "Arn", "Input", "InputPath")})
        else:
            out.skipped[f"{lid}/{target.get('Id')}"] = f"rule target {target['Arn']} is not delivered locally"
    if targets:
        events.put_targets(Rule=t.ref(lid), EventBusName=bus, Targets=targets)
