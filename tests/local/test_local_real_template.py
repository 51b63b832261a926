"""The project's own template.yaml loads and all its resources are created (no function code needed)."""

from __future__ import annotations

from pathlib import Path

from local_helpers import REPO

from oms_local import LocalRuntime


def test_real_template_resources_are_created(tmp_path: Path) -> None:
    with LocalRuntime(REPO / "template.yaml", data_dir=tmp_path) as rt:
        tables = set(rt.client("dynamodb").list_tables()["TableNames"])
        assert {
            "oms-inbox-local",
            "oms-orders-local",
            "oms-catalog-local",
            "oms-api-keys-local",
            "oms-counters-local",
        } <= tables
        inbox = rt.client("dynamodb").describe_table(TableName="oms-inbox-local")["Table"]
        assert inbox["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        declared = rt.template.resolve(rt.template.resources["InboxTable"]["Properties"])
        assert [i["IndexName"] for i in inbox["GlobalSecondaryIndexes"]] == [
            i["IndexName"] for i in declared["GlobalSecondaryIndexes"]
        ]
        orders = rt.client("dynamodb").describe_table(TableName="oms-orders-local")["Table"]
        projection = orders["GlobalSecondaryIndexes"][0]["Projection"]  # from the YAML anchor
        assert projection["ProjectionType"] == "INCLUDE" and "grand_total" in projection["NonKeyAttributes"]
        ttl = rt.client("dynamodb").describe_time_to_live(TableName="oms-inbox-local")
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        assert rt.queue_url("NormalizerDLQ").endswith("/oms-normalizer-dlq-local")
        assert rt.client("events").describe_event_bus(Name="oms-local")["Name"] == "oms-local"
        assert rt.client("events").describe_archive(ArchiveName="oms-local-all")["RetentionDays"] == 90
        assert rt.resource_name("EventBus") == "oms-local"
        assert rt.env_for("NormalizerFunction")["INBOX_TABLE"] == "oms-inbox-local"
        assert {"NormalizerDLQAlarm", "PublisherDLQAlarm", "QuarantineAlarm"} <= set(rt.resources.skipped)
        assert {"HttpApi", "SharedLayer", "IngestionApiFunction"} <= set(rt.resources.emulated)
        assert "AlarmEmailSubscription" not in rt.template.resources  # condition false
        assert rt.resources.streams["InboxTable"].startswith(
            "arn:aws:dynamodb:us-east-1:123456789012:table/oms-inbox-local/stream/"
        )
        sources = {s.source_name: s for s in rt.pump.sources}
        assert sources["NormalizerFunction.InboxStream"].stream_arn == rt.resources.streams["InboxTable"]
        rt.drain()
