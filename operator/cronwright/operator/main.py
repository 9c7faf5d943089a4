"""`cronwright operator`: kopf watches CronJobSpecs and feeds the scheduler.

kopf is used for what it is good at — robust watching with re-listing and back-off,
logging, signal handling — through raw event handlers only. Those store nothing on the
resources: no finalizer (a deleted resource needs no cleanup that its owner references
do not already do), no last-handled-configuration annotation, no progress annotations,
so GitOps tools see exactly the objects they applied. Peering is off: every instance
watches every resource, and shard Leases (shard_leases.py) decide which instance fires
which resource's runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import kopf
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cronwright.core import models
from cronwright.core.config import Config
from cronwright.core.kube import Credentials, Kube, load_credentials, renewal_time
from cronwright.core.version import VERSION
from cronwright.operator import admission, http_executor, ssrf
from cronwright.operator.events import EventRecorder
from cronwright.operator.heartbeat_checker import HeartbeatChecker
from cronwright.operator.leases import InstanceLease
from cronwright.operator.metrics import Metrics
from cronwright.operator.scheduler import Parts, Scheduler, Settings
from cronwright.operator.secret_recheck import SecretRecheck
from cronwright.operator.shard_leases import ShardLeases, ShardSettings

log = logging.getLogger("cronwright.operator")


@dataclass
class Options:
    kubeconfig: str | None = None
    namespaces: list[str] = field(default_factory=list)
    instance: str = field(default_factory=lambda: os.environ.get("POD_NAME") or socket.gethostname())
    lease_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "default"))
    host: str = "127.0.0.1"
    port: int = 8080
    shards: ShardSettings = field(default_factory=ShardSettings)
    max_concurrent_runs: int = 128
    log_format: str = "json"
    config: Config = field(default_factory=Config)
    heartbeat_interval: float = 10.0
    webhook: admission.WebhookOptions = field(default_factory=admission.WebhookOptions)


async def serve_health(
    scheduler: Scheduler, metrics: Metrics, ready: asyncio.Event, host: str, port: int
) -> web.AppRunner:
    """/metrics, /healthz (the scheduler loop is turning), /readyz (watching and scheduling)."""

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        stalled = time.monotonic() - scheduler.heartbeat > 30
        return web.json_response({"ok": not stalled}, status=503 if stalled else 200)

    async def readyz(_: web.Request) -> web.Response:
        ok = ready.is_set()
        return web.json_response({"ok": ok, "resources": len(scheduler.book)}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def build_registry(
    scheduler: Scheduler,
    credentials: Credentials,
    kube: Kube,
    webhook: admission.WebhookOptions,
    workdir: Path,
    stop_work: Callable[[], Awaitable[None]],
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    if webhook.port:
        admission.register(registry, kube, webhook)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: object) -> None:
        # kopf runs this once its watchers are gone, then waits up to 5 s for every task
        # made since it started — the scheduler's timed waits among them. Stopping our
        # work here lets a SIGTERM or Ctrl-C end the process at once instead.
        await stop_work()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: object) -> None:
        settings.peering.standalone = True
        settings.scanning.disabled = True
        settings.posting.enabled = False  # our Events are rate-limited and our own
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        if webhook.port:
            settings.admission.server = await admission.server(kube, webhook, workdir)

    @kopf.on.login(registry=registry)
    def login(**_: object) -> kopf.ConnectionInfo:
        # kopf logs in again on a 401 and when `expiration` passes; a projected token is
        # re-read then, so kopf's watch follows the kubelet's rotations like our client.
        # (Each login closes kopf's streams, which then list again: only near expiry.)
        token = credentials.current_token()
        return kopf.ConnectionInfo(
            server=credentials.host,
            ca_path=credentials.ca_path,
            insecure=not credentials.verify,
            certificate_path=credentials.cert_path,
            private_key_path=credentials.key_path,
            scheme="Bearer" if token else None,
            token=token,
            expiration=renewal_time(token) if credentials.token_file else None,
        )

    @kopf.on.event(models.GROUP, models.VERSION, models.PLURAL, registry=registry)
    async def on_event(event: kopf.RawEvent, **_: object) -> None:
        # The initial listing comes with type None; it is an ADDED for the book.
        scheduler.observe(event["type"] or "ADDED", event["object"])

    return registry


async def run(options: Options) -> None:
    credentials = load_credentials(options.kubeconfig)
    kube = Kube(credentials, max_connections=16, component="cronwright-operator")
    # Leases get connections of their own: a renewal queued behind a burst of status
    # writes would hold back the watermark, and with it every run of the shard.
    lease_kube = Kube(credentials, max_connections=4, component="cronwright-operator-leases")
    metrics = Metrics()
    lease = InstanceLease(lease_kube, options.lease_namespace, options.instance)
    http = http_executor.make_client(
        max_connections=options.max_concurrent_runs, ssrf=ssrf.Policy.from_settings(options.config.ssrf)
    )
    events = EventRecorder(kube, metrics, options.instance)
    settings = Settings(
        max_concurrent_runs=options.max_concurrent_runs,
        takeover_horizon=options.shards.takeover_horizon,
        version=VERSION,
    )
    shards = ShardLeases(lease_kube, options.lease_namespace, options.instance, options.shards, metrics)
    parts = Parts.on_kube(kube, http, shards, events, metrics, settings)
    scheduler = Scheduler(parts, settings)
    shards.listener = scheduler
    ready = asyncio.Event()
    runner = await serve_health(scheduler, metrics, ready, options.host, options.port)
    await lease.acquire()
    loop_task = asyncio.create_task(scheduler.run())

    heartbeat_task = asyncio.create_task(
        HeartbeatChecker(scheduler, events, metrics, options.heartbeat_interval).run()
    )
    recheck_task = asyncio.create_task(SecretRecheck(scheduler, events).run())
    kopf_ready = asyncio.Event()

    async def when_listed() -> None:
        # Shards are taken once the book holds every resource, so a shard's resources are
        # planned together when it comes (those created later are planned as they come).
        await kopf_ready.wait()
        ready.set()
        await shards.run()

    ready_watch = asyncio.create_task(when_listed())
    log.info(
        "operator %s started",
        options.instance,
        extra={"namespaces": options.namespaces or "all", "port": options.port},
    )

    async def stop_work() -> None:
        """Graceful: stop firing, let runs finish, write their results, hand every shard
        over (its watermark lowered to the last run fired), then stop the rest."""
        ready_watch.cancel()
        loop_task.cancel()
        try:
            async with asyncio.timeout(options.shards.handover_grace + FAREWELL_SECONDS):
                # The instance Lease goes first: until it does, the others count this
                # instance in their fair shares and leave the shards it frees untaken.
                await lease.release()
                await shards.release_all()
        except TimeoutError:
            log.warning("stopping before every shard was handed over; they free themselves")
        for task in (heartbeat_task, recheck_task):
            task.cancel()
        await scheduler.shutdown()
        await parts.results.close()

    # The webhook's generated key lives here, never longer than the process.
    workdir = tempfile.TemporaryDirectory(prefix="cronwright-webhook-")
    try:
        await kopf.operator(
            registry=build_registry(
                scheduler, credentials, kube, options.webhook, Path(workdir.name), stop_work
            ),
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            ready_flag=kopf_ready,
            standalone=True,
        )
    finally:
        workdir.cleanup()
        await stop_work()
        await farewell(events, lease)
        await http.aclose()
        await kube.close()
        await lease_kube.close()
        await runner.cleanup()


#: What stopping may spend on its last API calls (pending Events, deleting the lease). The
#: lease expires by itself; an API server that is stopping too (Ctrl-C of a local control
#: plane reaches every process) must not hold the operator until it is killed.
FAREWELL_SECONDS = 2.0


async def farewell(events: EventRecorder, lease: InstanceLease, budget: float = FAREWELL_SECONDS) -> None:
    """Post pending Events and release the lease, within `budget` seconds in all."""
    try:
        async with asyncio.timeout(budget):
            await events.drain()
            await lease.release()
    except TimeoutError:
        log.warning("stopping without releasing the lease: the API server did not answer in %ss", budget)


def main(options: Options) -> int:
    kopf.configure(
        verbose=False,
        log_format=kopf.LogFormat.JSON if options.log_format == "json" else kopf.LogFormat.FULL,
    )
    # One line per request or per watch event is noise; URLs may also hold tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(options))
    return 0
