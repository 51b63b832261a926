"""``PYTHONPATH=local python -m oms_local run|reset``.

Environment: PORT (3000), OMS_MOTO_PORT (4599), OMS_CHANNELS_PORT (4598, the channel
simulator), SEED (1; 0 disables demo data), OMS_DATA_DIR (<repo>/.oms), OMS_TEMPLATE (<repo>/template.yaml),
OMS_PARAMETER_OVERRIDES ("Key=Value Key2=Value2"), OMS_LOG_LEVEL (INFO), OMS_JOURNAL_FSYNC (1),
OMS_<CHANNEL>_API_BASE / OMS_BITESHIP_API_BASE / OMS_PAYMENTS_API_BASE (the channel simulator),
and the secrets and API key read by seed.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from .runtime import DEFAULT_TEMPLATE, REPO_ROOT, LocalRuntime
from .state import default_data_dir


def _overrides(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split() if "=" in item)
    return {k: v for k, v in pairs}


def local_pace(template_path: Path) -> dict[str, str]:
    """A marketplace's late resi is asked for again in seconds locally, not Shopee's 5 minutes."""
    from .template import Template

    declared = Template(template_path).raw.get("Parameters") or {}
    return {"ResiPollSeconds": "3"} if "ResiPollSeconds" in declared else {}


def endpoint_overrides(template_path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """``OMS_<NAME>_API_BASE`` / ``OMS_<NAME>_AUTH_BASE`` -> the template's ``<Name>ApiBase`` /
    ``<Name>AuthBase`` parameter (README "Local settings"): what the functions call, instead of
    the channel simulator. Empty values are ignored."""
    from .template import Template

    found: dict[str, str] = {}
    for parameter in Template(template_path).raw.get("Parameters") or {}:
        for suffix, env_suffix in (("ApiBase", "API_BASE"), ("AuthBase", "AUTH_BASE")):
            if parameter.endswith(suffix) and len(parameter) > len(suffix):
                value = environ.get(f"OMS_{parameter[: -len(suffix)].upper()}_{env_suffix}", "").strip()
                if value:
                    found[parameter] = value
    return found


def runtime_from_env(environ: Mapping[str, str] | None = None) -> LocalRuntime:
    """The runtime `make run` starts, configured from the environment (README "Local settings").

    Secrets and API keys (OMS_API_KEY, OMS_SHOPIFY_SECRET, ...) are read by seed.py and the
    channel simulator from the process environment when the runtime starts.
    """
    env = os.environ if environ is None else environ
    template_path = Path(env.get("OMS_TEMPLATE") or DEFAULT_TEMPLATE)
    overrides = {
        **local_pace(template_path),
        **endpoint_overrides(template_path, env),
        **_overrides(env.get("OMS_PARAMETER_OVERRIDES", "")),  # explicit overrides win
    }
    return LocalRuntime(
        template_path=template_path,
        port=int(env.get("PORT") or "3000"),
        moto_port=int(env.get("OMS_MOTO_PORT") or "4599"),
        channel_port=int(env.get("OMS_CHANNELS_PORT") or "4598"),
        data_dir=Path(env.get("OMS_DATA_DIR") or REPO_ROOT / ".oms"),
        seed=(env.get("SEED") or "1") != "0",
        parameter_overrides=overrides,
        journal_fsync=(env.get("OMS_JOURNAL_FSYNC") or "1") != "0",
    )


def run() -> int:
    logging.basicConfig(
        level=os.environ.get("OMS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime = runtime_from_env()
    runtime.start()
    try:
        print(f"API       {runtime.url}")
        print(f"moto      {runtime.moto_url}   (AWS_ENDPOINT_URL for the aws CLI / boto3)")
        print(f"data      {runtime.data_dir}   (logs in {runtime.data_dir / 'logs'})")
        if runtime.channels is not None:
            print(f"channels  {runtime.channels.url}   (simulated channel APIs; GET /_sim/calls, /_sim/stock?channel=)")
        if runtime.restored:
            print(f"restored  {', '.join(f'{k}={v}' for k, v in sorted(runtime.restored.items()))}")
        opened = runtime.state_opened
        if opened.get("existed"):
            print(
                f"journal   replayed={opened.get('replayed', 0)} in {opened.get('ms', 0)} ms (after the last snapshot)"
            )
        for route in runtime.template.http_routes():
            print(f"route     {route.route_key:<32} -> {route.function_id}")
        for lid, reason in sorted(runtime.resources.skipped.items()):
            print(f"skipped   {lid}: {reason}")
        for key, value in runtime.seed_output.items():
            print(f"{key:<9} {value}")
        print("ready; Ctrl-C to stop (every change is journalled; a snapshot is taken on exit)", flush=True)
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
