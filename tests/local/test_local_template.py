"""Template resolution, without starting anything."""

from __future__ import annotations

from datetime import UTC, datetime

from local_helpers import FIXTURE_TEMPLATE, REPO

from oms_local.cron import Cron, rate_seconds
from oms_local.template import Template


def test_environment_resolution_and_globals_merge() -> None:
    t = Template(FIXTURE_TEMPLATE)
    fn = t.functions()["HttpFunction"]
    assert fn.environment["STAGE"] == "local"  # Stage defaults to "local" locally
    assert fn.environment["ITEMS_TABLE"] == "fixture-items-local"  # !Ref table -> table name
    assert fn.environment["GREETING"] == "overridden-by-function"  # function wins over Globals
    assert t.functions()["SqsFunction"].environment["GREETING"] == "hello-local-us-east-1"  # !Sub
    assert fn.environment["OWNER"] == "nobody"  # !If on a condition
    assert fn.timeout == 5 and fn.memory_size == 256
    assert fn.layer_paths == [FIXTURE_TEMPLATE.parent / "layer"]
    assert "Topic" not in t.resources  # Condition HasOwner is false


def test_parameter_overrides_and_conditions() -> None:
    t = Template(FIXTURE_TEMPLATE, {"Stage": "qa", "Owner": "me"})
    assert "Topic" in t.resources
    env = t.functions()["SqsFunction"].environment
    assert env["ITEMS_TABLE"] == "fixture-items-qa" and env["OWNER"] == "me"


def test_event_sources() -> None:
    fns = Template(FIXTURE_TEMPLATE).functions()
    routes = {r.route_key for r in fns["HttpFunction"].http_routes}
    assert {"POST /echo/{name}", "GET /items/{item_id}", "ANY /files/{proxy+}"} <= routes
    (stream,) = fns["StreamFunction"].stream_sources
    assert stream.table_logical_id == "ItemsTable"
    assert (stream.batch_size, stream.maximum_retry_attempts, stream.bisect_on_error) == (10, 1, True)
    assert stream.report_batch_item_failures
    assert stream.on_failure_arn == "arn:aws:sqs:us-east-1:123456789012:fixture-stream-dlq-local"
    (sqs,) = fns["SqsFunction"].sqs_sources
    assert sqs.queue_logical_id == "WorkQueue" and sqs.report_batch_item_failures
    expressions = [s.expression for s in fns["ScheduledFunction"].schedules]
    assert expressions == ["rate(1 minute)", "cron(0 3 * * ? *)"]
    (rule,) = fns["RuleFunction"].rules
    assert rule.bus_name == "fixture-bus-local" and rule.pattern == {"source": ["fixture"]}


def test_real_template_resolves() -> None:
    t = Template(REPO / "template.yaml")
    fns = t.functions()
    assert fns["IngestionApiFunction"].environment["SECRETS_PATH"] == "/oms/local/channels"
    assert fns["IngestionApiFunction"].layer_paths == [REPO / "shared"]
    assert fns["NormalizerFunction"].stream_sources[0].table_logical_id == "InboxTable"
    assert t.get_att("NormalizerDLQ", "QueueName") == "oms-normalizer-dlq-local"


def test_cron_and_rate() -> None:
    now = datetime(2025, 11, 25, 16, 20, tzinfo=UTC)  # a Tuesday
    assert Cron("cron(0/15 * * * ? *)").next_after(now) == datetime(2025, 11, 25, 16, 30, tzinfo=UTC)
    assert Cron("cron(0 8 ? * MON-FRI *)").next_after(now) == datetime(2025, 11, 26, 8, 0, tzinfo=UTC)
    assert Cron("cron(30 9 ? * 1 *)").next_after(now) == datetime(2025, 11, 30, 9, 30, tzinfo=UTC)  # SUN
    assert Cron("cron(0 0 1 JAN,JUL ? 2026)").next_after(now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert rate_seconds("rate(5 minutes)") == 300 and rate_seconds("rate(1 day)") == 86400
