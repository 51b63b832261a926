"""``PYTHONPATH=local python -m oms_local run|reset``.

Environment: PORT (3000), OMS_MOTO_PORT (4599), OMS_CHANNELS_PORT (4598, the channel
simulator), SEED (1; 0 disables demo data), OMS_DATA_DIR (<repo>/.oms), OMS_TEMPLATE (<repo>/template.yaml),
OMS_PARAMETER_OVERRIDES ("Key=Value Key2=Value2"), OMS_LOG_LEVEL (INFO).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from .runtime import DEFAULT_TEMPLATE, REPO_ROOT, LocalRuntime
from .state import default_data_dir


def _overrides(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split() if "=" in item)
    return {k: v for k, v in pairs}


def run() -> int:
    logging.basicConfig(
        level=os.environ.get("OMS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime = LocalRuntime(
        template_path=Path(os.environ.get("OMS_TEMPLATE") or DEFAULT_TEMPLATE),
        port=int(os.environ.get("PORT", "3000")),
        moto_port=int(os.environ.get("OMS_MOTO_PORT", "4599")),
        channel_port=int(os.environ.get("OMS_CHANNELS_PORT", "4598")),
        data_dir=default_data_dir(REPO_ROOT),
        seed=os.environ.get("SEED", "1") != "0",
        parameter_overrides=_overrides(os.environ.get("OMS_PARAMETER_OVERRIDES", "")),
    )
    runtime.start()
    try:
        print(f"API       {runtime.url}")
        print(f"moto      {runtime.moto_url}   (AWS_ENDPOINT_URL for the aws CLI / boto3)")
        print(f"data      {runtime.data_dir}   (logs in {runtime.data_dir / 'logs'})")
        if runtime.channels is not None:
            print(f"channels  {runtime.channels.url}   (simulated channel APIs; GET /_sim/calls, /_sim/stock?channel=)")
        if runtime.restored:
            print(f"restored  {', '.join(f'{k}={v}' for k, v in sorted(runtime.restored.items()))}")
        for route in runtime.template.http_routes():
            print(f"route     {route.route_key:<32} -> {route.function_id}")
        for lid, reason in sorted(runtime.resources.skipped.items()):
            print(f"skipped   {lid}: {reason}")
        for key, value in runtime.seed_output.items():
            print(f"{key:<9} {value}")
        print("ready; Ctrl-C to stop (state is saved on exit)", flush=True)
        stop.wait()
    finally:
        print("stopping: draining and saving state...", flush=True)
        runtime.stop()
    return 0


def reset() -> int:
    data_dir = default_data_dir(REPO_ROOT)
    if data_dir.exists():
        shutil.rmtree(data_dir)
        print(f"removed {data_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms_local", description="Run the OMS locally on an embedded AWS.")
    parser.add_argument("command", choices=["run", "reset"])
    args = parser.parse_args(argv)
    return run() if args.command == "run" else reset()


if __name__ == "__main__":
    sys.exit(main())
