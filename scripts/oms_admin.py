"""Operations commands, for a deployed stage or for `make run`'s embedded AWS.

    python scripts/oms_admin.py --stage local create-key --name "POS Bandung" --role channel --channel pos
    python scripts/oms_admin.py --stage local create-key --name "Store app PVJ" --role node --node ST-BDG-PVJ
    python scripts/oms_admin.py --stage local quarantine list [--channel shopify]
    python scripts/oms_admin.py --stage local quarantine replay [--channel shopify] [--key <inbox key>]
    python scripts/oms_admin.py --stage local dlq replay --queue normalizer|publisher|stock-ledger|stock-push
    python scripts/oms_admin.py --stage local dlq replay --queue snapshot-parts
    python scripts/oms_admin.py --stage local stock push-all [--channel shopee [--shop 880022]] [--sku S ...] [--force]
    python scripts/oms_admin.py --stage local stock job --name audit|reconcile|expire_holds
    python scripts/oms_admin.py --stage local sourcing replay --rules proposed.json [--days 30] [--limit 5000]

Table and queue names come from template.yaml for the stage. Against AWS,
use your usual credentials; against `make run`, the Makefile sets
AWS_ENDPOINT_URL to the embedded AWS (see docs/runbook.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "local")]

from oms.adapters.aws import client  # noqa: E402
from oms.adapters.dynamo import to_item  # noqa: E402
from oms.adapters.inbox import DynamoInbox  # noqa: E402
from oms.domain.apikeys import new_key  # noqa: E402
from oms.models.apikey import Role  # noqa: E402
from oms.models.order import Channel  # noqa: E402
from oms_local.pump import lambda_stream_record  # noqa: E402
from oms_local.template import Template  # noqa: E402

# DLQ -> (the function whose failures it holds, the table whose stream feeds it)
DLQS = {
    "normalizer": ("NormalizerFunction", "NormalizerDLQ", "InboxTable"),
    "publisher": ("EventPublisherFunction", "PublisherDLQ", "OrdersTable"),
    "stock-ledger": ("StockLedgerFunction", "StockLedgerDLQ", "InventoryTable"),
    "stock-push": ("ChannelStockPushFunction", "ChannelStockPushDLQ", "InventoryTable"),
}
# DLQ of an SQS-fed function -> the queue its messages go back to
REDRIVES = {
    "snapshot-parts": ("SnapshotPartsDLQ", "SnapshotPartsQueue"),
    "stock-push": ("ChannelStockPushDLQ", "ChannelStockPushRetryQueue"),  # its retries (the rest are stream batches)
    "sourcing": ("SourcingDLQ", "SourcingQueue"),
    "promising": ("PromisingDLQ", "PromisingQueue"),
    "write-back": ("ChannelWriteBackDLQ", "ChannelWriteBackQueue"),
    "returns": ("ReturnsDLQ", "ReturnsQueue"),
    "shipping": ("ShippingDLQ", "ShippingQueue"),
    "channel-fetch": ("ChannelFetchDLQ", "ChannelFetchQueue"),
    "listings-refresh": ("ListingsRefreshDLQ", "ListingsRefreshQueue"),  # FIFO: each shop's group kept
}
LOCAL_CHANNELS_URL = f"http://127.0.0.1:{os.environ.get('OMS_CHANNELS_PORT', '4598')}"  # make run's simulator


def stage_env(stage: str, function: str = "IngestionApiFunction") -> dict[str, str]:
    return Template(ROOT / "template.yaml", {"Stage": stage}).functions()[function].environment


def create_key(args: argparse.Namespace) -> None:
    env = stage_env(args.stage)
    if "channel" in args.role and not args.channel:
        raise SystemExit("a channel key must name the channels it speaks for (--channel pos ...)")
    channels = [Channel(c) for c in args.channel] if args.channel else None
    key, record = new_key(
        args.name, [Role(r) for r in args.role], datetime.now(UTC), channels=channels, nodes=args.node or None
    )
    client("dynamodb").put_item(TableName=env["API_KEYS_TABLE"], Item=to_item(record.model_dump(mode="json")))
    print(f"key id {record.key_id} ({', '.join(args.role)}); the key, shown once:\n{key}")


def quarantine_list(args: argparse.Namespace) -> None:
    inbox = DynamoInbox(stage_env(args.stage)["INBOX_TABLE"])
    channels = [args.channel] if args.channel else [c.value for c in Channel]
    for channel in channels:
        for item in inbox.quarantined(channel):
            print(
                json.dumps(
                    {k: item.get(k) for k in ("pk", "topic", "received_at", "quarantine_reason", "quarantined_at")}
                )
            )


def quarantine_replay(args: argparse.Namespace) -> None:
    inbox = DynamoInbox(stage_env(args.stage)["INBOX_TABLE"])
    if args.key:
        keys = [args.key]
    else:
        channels = [args.channel] if args.channel else [c.value for c in Channel]
        keys = [item["pk"] for channel in channels for item in inbox.quarantined(channel)]
    for key in keys:
        inbox.request_replay(key)
    print(f"replay requested for {len(keys)} webhook(s); the normalizer picks them up from the inbox stream")


def _load_handler(function: str, env: dict[str, str]) -> Any:
    spec = Template(ROOT / "template.yaml").functions()[function]
    os.environ.update(env)
    module_name, _, attribute = spec.handler.rpartition(".")
    path = spec.code_uri / f"{module_name}.py"
    loaded = importlib.util.spec_from_file_location(f"replay_{module_name}", path)
    assert loaded and loaded.loader
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return getattr(module, attribute)


def _stream_batch(stream_arn: str, info: dict[str, Any]) -> dict[str, Any] | None:
    """The records a failed batch held, while the stream still has them (24 hours)."""
    streams = client("dynamodbstreams")
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn,
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
    except Exception:
        return None
    records: list[dict[str, Any]] = []
    end = int(info["endSequenceNumber"])
    while iterator and (not records or int(records[-1]["dynamodb"]["SequenceNumber"]) < end):
        response = streams.get_records(ShardIterator=iterator, Limit=100)
        if not response["Records"]:
            break
        for record in response["Records"]:
            if int(record["dynamodb"]["SequenceNumber"]) <= end:
                records.append(lambda_stream_record(record, stream_arn))
        iterator = response.get("NextShardIterator")
    return {"Records": records} if records else None


class _Context:
    function_name = "oms-admin-replay"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:oms-admin-replay"
    aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _queue_url(template: Template, logical_id: str) -> str:
    name = template.resolve(template.resources[logical_id]["Properties"]["QueueName"])
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def _received(sqs: Any, queue_url: str) -> Iterator[list[dict[str, Any]]]:
    """The queue's messages, ten at a time (each hidden for a minute while handled), until none is left."""
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                          AttributeNames=["MessageGroupId"]).get("Messages", []):  # fmt: skip
        yield messages


def dlq_redrive(args: argparse.Namespace) -> None:
    """Messages of an SQS-fed function's DLQ go back to its queue (the function is idempotent)."""
    template = Template(ROOT / "template.yaml", {"Stage": args.stage})
    dlq_id, source_id = REDRIVES[args.queue]
    sqs = client("sqs")
    dlq_url, source_url = _queue_url(template, dlq_id), _queue_url(template, source_id)
    moved = 0
    for messages in _received(sqs, dlq_url):
        for message in messages:
            fifo = {}
            if source_url.endswith(".fifo"):  # the message's group again; a new id, so the queue takes it
                group = message.get("Attributes", {}).get("MessageGroupId") or "redriven"
                fifo = {"MessageGroupId": group, "MessageDeduplicationId": message["MessageId"] + "-redriven"}
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"], **fifo)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    print(f"moved {moved} message(s) back to {source_id}")


def dlq_replay(args: argparse.Namespace) -> None:
    if args.queue not in DLQS:
        dlq_redrive(args)
        return
    function, queue_id, table_id = DLQS[args.queue]
    template = Template(ROOT / "template.yaml", {"Stage": args.stage})
    env = template.functions()[function].environment
    if function == "ChannelStockPushFunction":
        env = _with_channel_apis(args.stage, env)
    queue_name = template.resources[queue_id]["Properties"]["QueueName"]
    queue_name = template.resolve(queue_name)
    table_name = template.resolve(template.resources[table_id]["Properties"]["TableName"])
    sqs = client("sqs")
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    stream_arn = client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    handler = _load_handler(function, env)
    replayed = kept = 0
    for messages in _received(sqs, queue_url):
        for message in messages:
            info = json.loads(message["Body"]).get("DDBStreamBatchInfo", {})
            if not info and args.queue in REDRIVES:  # a queued retry, not a stream batch: back to its queue
                sqs.send_message(QueueUrl=_queue_url(template, REDRIVES[args.queue][1]), MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                replayed += 1
                continue
            batch = _stream_batch(stream_arn, info) if info else None
            ok = False
            if batch is not None:
                try:
                    answer = handler(batch, _Context())
                except Exception as exc:  # still failing: keep it in the DLQ
                    print(f"batch still fails: {type(exc).__name__}: {exc}")
                    answer = {"batchItemFailures": ["all"]}
                ok = not (answer or {}).get("batchItemFailures")
            elif args.queue == "normalizer" and info:
                # The stream has moved on; the inbox still has every webhook of the window.
                start = datetime.fromisoformat(info["approximateArrivalOfFirstRecord"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(info["approximateArrivalOfLastRecord"].replace("Z", "+00:00"))
                inbox = DynamoInbox(env["INBOX_TABLE"])
                margin = timedelta(seconds=5)
                for key in inbox.keys_received_between((start - margin).isoformat(), (end + margin).isoformat()):
                    inbox.request_replay(key)
                ok = True
            if ok:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                replayed += 1
            else:
                kept += 1
        if kept:
            break
    print(f"replayed {replayed} failed batch(es); {kept} still failing and kept in the DLQ")


def _with_channel_apis(stage: str, env: dict[str, str]) -> dict[str, str]:
    """The push function's environment with each channel's API base: yours (OMS_<CHANNEL>_API_BASE),
    else the stage's, else (stage local) make run's channel simulator. Refuses when none is set."""
    resolved = dict(env)
    for name, value in env.items():
        if name.startswith("OMS_") and name.endswith("_API_BASE"):
            channel = name.removeprefix("OMS_").removesuffix("_API_BASE").lower()
            local = f"{LOCAL_CHANNELS_URL}/{channel}" if stage == "local" else ""
            resolved[name] = os.environ.get(name) or value or local
    if not any(v for k, v in resolved.items() if k.endswith("_API_BASE")):
        raise SystemExit("no channel API is configured (OMS_<CHANNEL>_API_BASE): nothing could be pushed")
    return resolved


def stock_push_all(args: argparse.Namespace) -> None:
    """Push every SKU's figure to every shop of the channels (or of one channel, or to one shop): after a long
    outage, a stock-push batch older than the stream's 24 hours, a newly connected shop or a changed node
    binding. Only what differs from what each shop was last told is sent, unless --force."""
    if args.shop and not args.channel:
        raise SystemExit("--shop needs --channel")
    os.environ.update(_with_channel_apis(args.stage, stage_env(args.stage, "ChannelStockPushFunction")))
    from oms import container
    from oms.domain.stock_push import target_key

    pusher = container.stock_push()
    only = Channel(args.channel) if args.channel else None
    target = target_key(only, args.shop) if only and args.shop else None
    if only and target:
        known = [t.key for t in pusher.client.stock_targets(only)]
        if target not in known:
            raise SystemExit(f"no {only.value} shop {args.shop} to push to; its targets: {', '.join(known) or 'none'}")
    skus = sorted(args.sku) if args.sku else sorted({level.sku for level in container.inventory().store.scan_levels()})
    sent: dict[str, int] = {}
    failed, why = 0, dict[str, str]()
    for start in range(0, len(skus), 500):
        report = pusher.run(skus[start : start + 500], only=only, force=args.force, target=target)
        for key, count in report.sent.items():
            sent[key] = sent.get(key, 0) + count
        failed += sum(len(f) for f in report.failed.values())
        why.update({key: f"not pushed: {reason}" for key, reason in report.idle.items()})
        why.update({key: f"failed: {reason}" for key, reason in report.errors.items()})
    print(f"{len(skus)} SKU(s) checked; sent {sent or 'nothing (every shop is up to date)'}; {failed} failed")
    for key, reason in sorted(why.items()):
        print(f"  {key}: {reason}")


def stock_job(args: argparse.Namespace) -> None:
    """Run a scheduled stock job now, from this machine, with the stage's settings."""
    function = "StockJobsFunction"
    handler = _load_handler(function, stage_env(args.stage, function))
    print(json.dumps(handler({"job": args.name}, _Context())))


def backfill_lookups(args: argparse.Namespace) -> None:
    """Write the lookup items (order number; node work lists) of orders stored before the publisher
    wrote them, and count them in the daily counts GET /orders/stats reads: the migration that comes with
    the tracking API, GET /orders?node= and the counts. Safe to run again, and while the stream runs."""
    os.environ.update(stage_env(args.stage, "EventPublisherFunction"))
    from oms import container
    from oms.adapters.orders import count_item, lookup_items

    orders = container.orders()
    writes: list = []
    count = 0
    for order in orders.scan_orders():
        puts, _ = lookup_items(None, order)
        writes += [("put", item) for item in puts]
        writes.append(("count", count_item(None, order)))  # an order counted already is left as it is
        count += 1
        if len(writes) >= 500:
            orders.put_lookups(writes)
            writes = []
    if writes:
        orders.put_lookups(writes)
    print(f"{count} order(s): lookup items written, counted for GET /orders/stats")


def migrate_tokopedia(args: argparse.Namespace) -> None:
    """Tokopedia orders captured through Tokopedia's closed Open API, in TikTok Shop's status vocabulary
    (oms.domain.tokopedia_legacy); lists those the marketplace had not finished. Safe to run again."""
    os.environ.update(stage_env(args.stage, "EventPublisherFunction"))
    from datetime import UTC, datetime

    from oms import container
    from oms.domain.tokopedia_legacy import migrate

    report = migrate(container.orders(), lambda: datetime.now(UTC), dry_run=args.dry_run)
    verb = "would be migrated" if args.dry_run else "migrated"
    print(f"{report.scanned} tokopedia order(s) scanned, {report.migrated} {verb}")
    if report.still_open:
        print(f"{len(report.still_open)} still open at the marketplace when its API closed; finish them in the"
              f" seller center: {', '.join(report.still_open[:50])}")  # fmt: skip
    if report.conflicts:
        print(f"{len(report.conflicts)} changed while migrating: run again")
        raise SystemExit(1)


def status_job(args: argparse.Namespace) -> None:
    """Run a scheduled status job now (watch: flag orders; poll: ask carriers without push)."""
    function = "StatusWorkerFunction"
    env = stage_env(args.stage, function)
    if args.stage == "local" and not env.get("OMS_BITESHIP_API_BASE"):
        env["OMS_BITESHIP_API_BASE"] = f"{LOCAL_CHANNELS_URL}/biteship"  # make run's simulator, not Biteship
    handler = _load_handler(function, env)
    print(json.dumps(handler({"job": args.name}, _Context())))


def shops_list(args: argparse.Namespace) -> None:
    """The seller's shops and how each stands (the same as GET /shops)."""
    os.environ.update(stage_env(args.stage, "StockApiFunction"))
    from oms.wiring.core import shop_service

    print(json.dumps([view.model_dump(mode="json") for view in shop_service().list()], indent=2))


def shops_add(args: argparse.Namespace) -> None:
    """Connect a shop (the same as POST /shops): its id, its authorization and its name."""
    os.environ.update(stage_env(args.stage, "StockApiFunction"))
    from oms.models.shops import ShopCreate
    from oms.wiring.core import shop_service

    expires = datetime.fromtimestamp(args.expires_at, UTC) if args.expires_at else None
    body = ShopCreate(channel=args.channel, shop_id=args.shop_id, name=args.name, shop_cipher=args.shop_cipher,
                      credentials={"access_token": args.access_token, "refresh_token": args.refresh_token,
                                   "access_token_expires_at": expires})  # fmt: skip
    print(shop_service().create(body).model_dump_json(indent=2))


def channel_job(args: argparse.Namespace) -> None:
    """Run a scheduled marketplace job now: reconcile (one channel, or every connected one) or refresh_tokens."""
    function = "ChannelReconcileFunction"
    env = stage_env(args.stage, function)
    if args.stage == "local":  # make run's simulator stands in for the marketplaces
        for channel in ("shopee", "lazada", "tiktok"):
            env.setdefault(f"OMS_{channel.upper()}_API_BASE", "")
            env[f"OMS_{channel.upper()}_API_BASE"] = (
                env[f"OMS_{channel.upper()}_API_BASE"] or f"{LOCAL_CHANNELS_URL}/{channel}"
            )
    handler = _load_handler(function, env)
    event = (
        {"job": "refresh_tokens"}
        if args.name == "refresh_tokens"
        else {"channel": args.channel}
        if args.channel
        else {}
    )
    print(json.dumps(handler(event, _Context())))


def sourcing_replay(args: argparse.Namespace) -> None:
    """Plan the stored decisions of the last --days days again under a proposed rule set."""
    os.environ.update(stage_env(args.stage, "SourcingApiFunction"))
    from oms import container
    from oms.models.sourcing import SourcingRules
    from oms.ports import OrderQuery

    proposed = SourcingRules.model_validate_json(Path(args.rules).read_text())
    orders = container.orders()
    since = datetime.now(UTC) - timedelta(days=args.days)
    order_ids: list[str] = []
    cursor = None
    while len(order_ids) < args.limit:
        page = orders.list(OrderQuery(created_from=since, limit=min(100, args.limit - len(order_ids)), cursor=cursor))
        order_ids += [item["order_id"] for item in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    report = container.sourcing().replay(proposed, order_ids)
    print(json.dumps(report, indent=2))


def _sourcing_commands(commands: argparse._SubParsersAction) -> None:
    sourcing = commands.add_parser("sourcing").add_subparsers(dest="action", required=True)
    replay_rules = sourcing.add_parser("replay", help="past decisions planned again under proposed rules")
    replay_rules.add_argument("--rules", required=True, help="a JSON file: the proposed rules (GET /sourcing/rules)")
    replay_rules.add_argument("--days", type=int, default=30, choices=range(1, 93), metavar="1..92")
    replay_rules.add_argument("--limit", type=int, default=5000, help="at most this many orders, newest first")
    replay_rules.set_defaults(run=sourcing_replay)


def _shop_commands(commands: argparse._SubParsersAction) -> None:
    shops = commands.add_parser("shops").add_subparsers(dest="action", required=True)
    shops.add_parser("list", help="the shops and how each stands").set_defaults(run=shops_list)
    shop_add = shops.add_parser("add", help="connect a marketplace shop with its authorization")
    shop_add.add_argument("--channel", required=True, choices=["shopee", "lazada", "tiktok"])
    shop_add.add_argument("--shop-id", required=True)
    shop_add.add_argument("--name", required=True)
    shop_add.add_argument("--access-token", required=True)
    shop_add.add_argument("--refresh-token")
    shop_add.add_argument("--expires-at", type=int, help="the access token's expiry, Unix seconds")
    shop_add.add_argument("--shop-cipher", help="TikTok Shop (its Tokopedia storefront too)")
    shop_add.set_defaults(run=shops_add)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default=os.environ.get("STAGE", "local"))
    commands = parser.add_subparsers(dest="command", required=True)
    key = commands.add_parser("create-key", help="create an API key (shown once)")
    key.add_argument("--name", required=True)
    key.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    key.add_argument("--channel", action="append", choices=[c.value for c in Channel])
    key.add_argument("--node", action="append", help="a node key acts only for these nodes (repeat the option)")
    key.set_defaults(run=create_key)
    quarantine = commands.add_parser("quarantine").add_subparsers(dest="action", required=True)
    listing = quarantine.add_parser("list")
    listing.add_argument("--channel")
    listing.set_defaults(run=quarantine_list)
    replay = quarantine.add_parser("replay")
    replay.add_argument("--channel")
    replay.add_argument("--key", help="one inbox key")
    replay.set_defaults(run=quarantine_replay)
    dlq = commands.add_parser("dlq").add_subparsers(dest="action", required=True)
    dlq_run = dlq.add_parser("replay")
    dlq_run.add_argument("--queue", required=True, choices=sorted(set(DLQS) | set(REDRIVES)))
    dlq_run.set_defaults(run=dlq_replay)
    stock = commands.add_parser("stock").add_subparsers(dest="action", required=True)
    push_all = stock.add_parser("push-all", help="push every SKU's figure to the shops that need it")
    push_all.add_argument("--channel", choices=[c.value for c in Channel])
    push_all.add_argument("--shop", help="only this shop of --channel (its shop id, as GET /shops lists it)")
    push_all.add_argument("--force", action="store_true", help="send every figure, even those already told")
    push_all.add_argument("--sku", action="append", help="only these SKUs (repeat the option)")
    push_all.set_defaults(run=stock_push_all)
    job = stock.add_parser("job", help="run a scheduled stock job now")
    job.add_argument("--name", required=True, choices=["audit", "reconcile", "expire_holds"])
    job.set_defaults(run=stock_job)
    orders_cmd = commands.add_parser("orders").add_subparsers(dest="action", required=True)
    backfill = orders_cmd.add_parser("backfill-lookups", help="order-number and node-work items for older orders")
    backfill.set_defaults(run=backfill_lookups)
    legacy = orders_cmd.add_parser("migrate-tokopedia", help="Tokopedia orders of the closed Open API, migrated")
    legacy.add_argument("--dry-run", action="store_true", help="count and list, change nothing")
    legacy.set_defaults(run=migrate_tokopedia)
    status = commands.add_parser("status").add_subparsers(dest="action", required=True)
    status_run = status.add_parser("job", help="run a scheduled status job now")
    status_run.add_argument("--name", required=True, choices=["watch", "poll"])
    status_run.set_defaults(run=status_job)
    channel_cmd = commands.add_parser("channel").add_subparsers(dest="action", required=True)
    channel_run = channel_cmd.add_parser("job", help="run a scheduled marketplace job now")
    channel_run.add_argument("--name", required=True, choices=["reconcile", "refresh_tokens"])
    channel_run.add_argument("--channel", choices=["shopee", "lazada", "tiktok"])
    channel_run.set_defaults(run=channel_job)
    _shop_commands(commands)
    _sourcing_commands(commands)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
