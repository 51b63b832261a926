"""LocalRuntime: moto + resources + state + workers + gateway + pump, wired from template.yaml."""

from __future__ import annotations

import importlib
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from .channel_sim import ChannelSimulator
from .gateway import GatewayServer
from .moto_server import MotoServer
from .pump import DRAIN_DEADLINE_S, Pump
from .resources import CreatedResources, create_all
from .state import StateStore
from .template import REGION, Template
from .workers import FunctionError, InvokeResult, WorkerManager

log = logging.getLogger("oms_local")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

_BOTO_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=5,
    read_timeout=60,
)


def make_client(service: str, endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        aws_session_token="testing",  # noqa: S106
        config=_BOTO_CONFIG,
    )


class LocalRuntime:
    """The whole local stack. Use as a context manager; ``port=0`` / ``moto_port=0`` pick free ports.

    ``data_dir=None`` uses a fresh temporary directory (nothing survives); pass a path to persist.
    """

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        port: int = 0,
        moto_port: int = 0,
        data_dir: str | Path | None = None,
        seed: bool = False,
        parameter_overrides: dict[str, str] | None = None,
        pool_sizes: dict[str, int] | None = None,
        schedule_scale: float = 1.0,
        snapshot_interval_s: float = 60.0,
        host: str = "127.0.0.1",
        journal_fsync: bool = True,
        channel_simulator: bool = True,
        channel_port: int = 0,
    ) -> None:
        self.template_path = Path(template_path)
        self.host = host
        self.port = port
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="oms-local-")
        self.data_dir = Path(data_dir)
        self.seed = seed
        self.parameter_overrides = parameter_overrides
        self.pool_sizes = pool_sizes
        self.schedule_scale = schedule_scale
        self.snapshot_interval_s = snapshot_interval_s
        self.moto = MotoServer(moto_port, host, log_path=self.data_dir / "logs" / "moto.log")
        # The channels' APIs: the functions' OMS_<CHANNEL>_API_BASE point here unless overridden.
        self.channels: ChannelSimulator | None = None
        if channel_simulator:
            self.channels = ChannelSimulator(host, channel_port, log_path=self.data_dir / "logs" / "channels.jsonl")
        # moto journals every change before answering and snapshots from a forked child (durable.py).
        self.state = StateStore(self.data_dir, fsync=journal_fsync)
        self.template: Template
        self.resources: CreatedResources
        self.workers: WorkerManager
        self.pump: Pump
        self.gateway: GatewayServer
        self.restored: dict[str, int] = {}
        self.state_opened: dict[str, Any] = {}
        self.state_was_new = True
        self.seed_output: dict[str, Any] = {}
        self._clients = threading.local()
        self._stop_snapshots = threading.Event()
        self._snapshot_thread: threading.Thread | None = None
        self._started = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LocalRuntime:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.channels is not None:
            self.channels.start()
            declared = Template(self.template_path).raw.get("Parameters") or {}
            simulated = {k: v for k, v in self.channels.parameter_overrides().items() if k in declared}
            self.parameter_overrides = {**simulated, **(self.parameter_overrides or {})}
        self.moto.start()
        try:
            self._start_rest()
        except BaseException:
            self.moto.stop()
            if self.channels is not None:
                self.channels.stop()
            raise
        self._started = True
        return self

    def _start_rest(self) -> None:
        self.template = Template(self.template_path, self.parameter_overrides, queue_url_base=self.moto_url)
        self.resources = create_all(self.template, self.client)
        # The last snapshot and the journal after it, replayed into moto; journalled from here on.
        opened = self.state.open(self.moto_url, self.resources.tables, self.resources.queues)
        self.state_was_new = not opened["existed"]
        self.restored = dict(opened["restored"])
        self.state_opened = opened
        self.workers = WorkerManager(self.template.functions(), self.moto_url, self.data_dir / "logs", self.pool_sizes)
        # Every start: seed.py configures secrets and keys (not persisted), and adds demo data to new state.
        self.seed_output = self._run_seed()
        # Restored items make no stream records; each stream consumer resumes after the last batch it
        # finished before the stop (or crash): records it had not finished are delivered again.
        self.pump = Pump(
            self.template,
            self.resources,
            self.workers,
            self.client,
            start_at_latest=not self.state_was_new,
            schedule_scale=self.schedule_scale,
            checkpoints=opened.get("checkpoints") or {},
            checkpoint=self.state.checkpoint,
        )
        self.pump.start()
        self.gateway = GatewayServer(self.host, self.port, self.template.http_routes(), self.workers.invoke)
        self.gateway.start()
        if self.channels is not None:  # the simulated marketplaces push their webhooks here
            self.channels.marketplaces.oms_url = self.gateway.url
        if self.snapshot_interval_s > 0:
            thread = threading.Thread(target=self._snapshot_loop, name="snapshots", daemon=True)
            thread.start()
            self._snapshot_thread = thread

    def _run_seed(self) -> dict[str, Any]:
        try:
            module = importlib.import_module("oms_local.seed")
        except ModuleNotFoundError as exc:
            if exc.name != "oms_local.seed":
                raise
            return {}
        return module.seed_demo(self, fresh=self.state_was_new, demo=self.seed) or {}

    def stop(self, drain_timeout: float = 10.0, save: bool = True) -> None:
        """Stop HTTP, drain the pump, snapshot state (unless save is false), stop workers and moto."""
        if not self._started:
            return
        self._started = False
        self._stop_snapshots.set()
        self.gateway.stop()
        try:
            self.pump.drain(drain_timeout)
        except TimeoutError as exc:
            log.warning("shutting down without a full drain: %s", exc)
        self.pump.stop()
        try:
            if save:
                self.save_state()
        except Exception:
            log.exception("could not save state")
        self.workers.stop()
        self.moto.stop()
        if self.channels is not None:
            self.channels.stop()

    def kill(self) -> None:
        """A hard crash, for tests: SIGKILL moto and every worker, no drain, no snapshot."""
        if not self._started:
            return
        self._started = False
        self._stop_snapshots.set()
        self.moto.kill()
        for pool in self.workers.pools.values():
            for worker in pool._all:
                worker.kill()
        self.gateway.stop()
        self.pump.stop()
        if self.channels is not None:
            self.channels.stop()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ state

    def save_state(self) -> bool:
        """A snapshot now, waited for (the journal already holds every change: this only shortens it)."""
        result = self.state.snapshot(wait=True)
        return bool(result.get("ok"))

    def _snapshot_loop(self) -> None:
        # Every change is journalled before moto answers; a snapshot only bounds the journal (and
        # the replay at the next start). moto forks and a child writes it: the functions go on.
        while not self._stop_snapshots.wait(self.snapshot_interval_s):
            try:
                result = self.state.snapshot(wait=False)
                last = self.state.status().get("last_snapshot") or {}
                if last and not last.get("ok"):
                    log.error("the last state snapshot failed: %s", last)
                log.debug("snapshot %s; last %s", result, last)
            except Exception:
                log.exception("periodic snapshot failed")

    # ------------------------------------------------------------ accessors

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def moto_url(self) -> str:
        return self.moto.url

    def client(self, service: str) -> Any:
        """A boto3 client against moto, cached per thread (clients are not shared across threads)."""
        cache: dict[str, Any] = self._clients.__dict__.setdefault("by_service", {})
        if service not in cache:
            cache[service] = make_client(service, self.moto_url)
        return cache[service]

    boto3_client = client

    def resource_name(self, logical_id: str) -> str:
        """What !Ref gives for the logical id (table name, queue URL, bus name, ...)."""
        return self.template.ref(logical_id)

    def table_name(self, logical_id: str) -> str:
        return self.resources.tables[logical_id]

    def queue_url(self, logical_id: str) -> str:
        return self.resources.queues[logical_id]

    def env_for(self, function_logical_id: str) -> dict[str, str]:
        """The function's resolved environment (template values only, no AWS_* plumbing)."""
        return dict(self.template.functions()[function_logical_id].environment)

    def invoke_raw(self, function_logical_id: str, event: Any) -> InvokeResult:
        return self.workers.invoke(function_logical_id, event)

    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Invoke synchronously; returns the handler's result or raises FunctionError."""
        result = self.workers.invoke(function_logical_id, event)
        if not result.ok:
            raise FunctionError(function_logical_id, result.error or {})
        return result.payload

    def drain(self, timeout: float = DRAIN_DEADLINE_S) -> None:
        self.pump.drain(timeout)

    @property
    def cold_starts(self) -> dict[str, float]:
        """Import (init) time in ms of the first worker of each function started so far."""
        return {lid: times[0] for lid, times in self.workers.cold_starts().items()}

    def counters(self) -> dict[str, Any]:
        return self.pump.counters()
