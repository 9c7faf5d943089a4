"""`cronwright dev`: the whole product on this machine, until Ctrl-C.

A local control plane with the CRDs installed, then cronwright's own processes on it — the
operator with its admission webhook registered, as in a cluster, and the REST facade — and
an echo receiver on 127.0.0.1:8089 (devecho.py). ``<state-dir>/dev.json`` tells scripts
where everything is and is removed on exit, so a stale file never points at a dead
cluster; ``<state-dir>/env`` sets up a second shell. The cluster's data, the API key and
the ports are kept for the next run (devstate.py); ``--reset`` starts clean.

Ctrl-C reaches only this process (children run in sessions of their own), which stops the
API server's clients first, all at once, then the API server, then etcd: a few seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cronwright.cli.devecho import ECHO_ADDRESS, start_echo
from cronwright.cli.devstate import DevState, StateBusy, source_hint
from cronwright.core.controlplane.binaries import ensure_helm
from cronwright.core.controlplane.cluster import ControlPlane, ControlPlaneError, port_or_free
from cronwright.core.processes import start_component, stop_components

#: The settings file `cronwright dev` uses unless given one: named targets for the
#: cron-registry and asta examples, all pointing at the echo receiver.
DEV_CONFIG = """\
handlers:
  reminder_scheduler:
    http: {url: "http://127.0.0.1:8089/handlers/reminder_scheduler", method: POST}
  cleanup:
    http: {url: "http://127.0.0.1:8089/handlers/cleanup", method: POST}
channels:
  web: {url: "http://127.0.0.1:8089/channels/web"}
  telegram: {url: "http://127.0.0.1:8089/channels/telegram"}
"""

WEBHOOK_CONFIGURATION = "cronwright-dev"

#: A spec only the webhook refuses (the schema accepts it): how `cronwright dev` knows the
#: API server calls the webhook before it says it is running.
_PROBE = {
    "apiVersion": "cronwright.io/v1alpha1",
    "kind": "CronJobSpec",
    "metadata": {"name": "cronwright-dev-webhook-probe"},
    "spec": {"schedule": {"cron": "61 * * * *"}, "http": {"url": "http://127.0.0.1:8089/"}},
}


@dataclass(frozen=True)
class Options:
    state_dir: str = ".cronwright"
    namespace: str = "default"
    config: str | None = None
    reset: bool = False


def run(options: Options) -> int:
    state = DevState(Path(options.state_dir).resolve())
    try:
        with state.locked():
            return _run(state, options)
    except StateBusy as error:
        print(f"cronwright dev: {error}", file=sys.stderr)
        return 1


def _run(state: DevState, options: Options) -> int:
    if options.reset:
        state.reset()
        print(f"[cronwright] state in {state.root} deleted: starting clean", flush=True)
    config = options.config
    if config is None:
        config = str(state.root / "config.yaml")
        Path(config).write_text(DEV_CONFIG)
    # SIGTERM as Ctrl-C: either one, also during the start, goes straight to the stopping.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    ports = state.ports()
    kept = state.kept
    print(
        "[cronwright] starting the local control plane"
        + (" (kept from the last run; --reset or `make dev-reset` starts clean)" if kept else "")
        + " ...",
        flush=True,
    )
    helm = ensure_helm()
    plane = ControlPlane(workdir=state.cluster, ports=ports, keep_credentials=True)
    children: list[subprocess.Popen[bytes]] = []
    echo = None
    try:
        plane.start()
        if options.namespace != "default":
            plane.run_kubectl("create", "namespace", options.namespace, check=False)
        plane.run_kubectl("config", "set-context", "--current", f"--namespace={options.namespace}")
        for role in ("operator", "api", "webhook"):
            ports[role] = port_or_free(ports.get(role))
        state.save_ports(ports)
        print("[cronwright] starting the operator, its admission webhook and the REST API ...", flush=True)
        operator_url, api_url = _start_components(plane, state, ports, config, children)
        _wait_for_webhook(plane, options.namespace)
        api_key = _api_key(state, plane.kubeconfig, options.namespace)
        echo = start_echo(state.root / "receiver.log")
        info = {
            "kubeconfig": str(plane.kubeconfig),
            "namespace": options.namespace,
            "server": plane.server,
            "metrics_url": f"{operator_url}/metrics",
            "api_url": api_url,
            "api_key": api_key,
            "receiver": f"http://{ECHO_ADDRESS[0]}:{ECHO_ADDRESS[1]}" if echo is not None else None,
        }
        commands = [Path(sys.executable).parent, plane.kubectl.parent, helm.parent]
        state.write_env(commands, plane.kubeconfig, api_url, api_key)
        state.write_info(info)
        _print_running(state, info, config, echo is not None)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:  # a process that would not start, with its log's tail
        print(f"cronwright dev: {error}", file=sys.stderr)
        return 1
    finally:
        print("[cronwright] stopping ...", flush=True)
        started = time.monotonic()
        state.info.unlink(missing_ok=True)
        if echo is not None:
            threading.Thread(target=echo.shutdown, daemon=True).start()
        stop_components(children)
        plane.stop()
        took = time.monotonic() - started
        print(f"[cronwright] stopped in {took:.1f}s; state kept in {state.root}", flush=True)
    return 0


def _start_components(
    plane: ControlPlane,
    state: DevState,
    ports: dict[str, int],
    config: str,
    children: list[subprocess.Popen[bytes]],
) -> tuple[str, str]:
    """The operator (serving the webhook) and the facade, each once ready, appended to
    `children` as they start; their URLs."""
    common = [f"--kubeconfig={plane.kubeconfig}", f"--config={config}"]
    operator_url = f"http://127.0.0.1:{ports['operator']}"
    webhook = [f"--webhook-port={ports['webhook']}", f"--webhook-configuration={WEBHOOK_CONFIGURATION}"]
    children.append(
        start_component(
            ["operator", *common, *webhook, f"--port={ports['operator']}"],
            state.root / "operator.log",
            operator_url,
            "/readyz",
        )
    )
    api_url = f"http://127.0.0.1:{ports['api']}"
    api = ["api", *common, f"--port={ports['api']}"]
    children.append(start_component(api, state.root / "api.log", api_url, "/healthz"))
    return operator_url, api_url


def _wait_for_webhook(plane: ControlPlane, namespace: str, timeout: float = 60) -> None:
    """Until the API server refuses a bad spec through the webhook (a server-side dry run:
    nothing is stored). It picks a new configuration up a moment after it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = plane.run_kubectl(
            "apply", "-n", namespace, "--dry-run=server", "-f", "-", input=json.dumps(_PROBE), check=False
        )
        if probe.returncode != 0 and "denied the request" in probe.stderr:
            return
        time.sleep(0.2)
    raise ControlPlaneError(
        f"the API server did not call the admission webhook within {timeout:.0f}s (see operator.log)"
    )


def _api_key(state: DevState, kubeconfig: Path, namespace: str) -> str:
    """The key of the last run while the cluster still holds it for this namespace, else
    a new one (read, write and every cronpulse permission)."""
    from cronwright.api.apikeys import create_key, list_keys, parse_key
    from cronwright.core.kube import run_with_kube

    kept = state.api_key()
    if kept is not None:
        key_id = parse_key(kept)
        known = run_with_kube(str(kubeconfig), list_keys)
        if any(i.key.key_id == key_id and i.key.namespace == namespace for i in known):
            return kept
    key = run_with_kube(
        str(kubeconfig),
        lambda kube: create_key(kube, namespace, ["read", "write", "*"], description="cronwright dev"),
    )
    state.save_api_key(key)
    return key


def _print_running(state: DevState, info: dict[str, str | None], config: str, echo: bool) -> None:
    address = f"{ECHO_ADDRESS[0]}:{ECHO_ADDRESS[1]}"
    receiver = (
        f"echo receiver on http://{address} (requests: {state.root / 'receiver.log'})"
        if echo
        else f"{address} is taken: your own receiver gets the examples' calls"
    )
    hint = source_hint(state.env, Path.cwd())
    print(
        f"""
cronwright dev is running. Ctrl-C stops everything; the cluster, its jobs, the API key and
the ports are kept for the next start (`make dev-reset` or --reset starts clean).

  kubeconfig: {info["kubeconfig"]}  (namespace {info["namespace"]})
  metrics:    {info["metrics_url"]}
  REST API:   {info["api_url"]}  (docs: {info["api_url"]}/docs)
  dashboard:  {info["api_url"]}/ui  (sign in with the API key below)
  API key:    {info["api_key"]}
  state:      {state.root}  (dev.json, env; logs: operator.log, api.log)
  settings:   {config}
  targets:    {receiver}

In a second shell, load cronwright, kubectl, helm, KUBECONFIG, CRONWRIGHT_URL and API_KEY:

  {hint}
  kubectl apply -f crds/examples/cron.yaml
  kubectl get cronjobspecs
  curl -H "Authorization: Bearer $API_KEY" "$CRONWRIGHT_URL/v1/cron-jobs"
""",
        flush=True,
    )
