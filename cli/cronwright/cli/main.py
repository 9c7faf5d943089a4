"""The `cronwright` command: one entry point for every part of the product."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from cronwright.core.kube import Kube
    from cronwright.operator.admission import WebhookOptions

KUBECONFIG_HELP = "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)"

T = TypeVar("T")


def _crd(args: argparse.Namespace) -> int:
    from cronwright.core import crd

    sys.stdout.write(crd.render(args.kind))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from cronwright.cli import dev

    return dev.run(
        dev.Options(state_dir=args.state_dir, namespace=args.namespace, config=args.config, reset=args.reset)
    )


def _dev_cluster(args: argparse.Namespace) -> int:
    from cronwright.cli import dev_cluster

    return dev_cluster.run(state_dir=args.state_dir, namespace=args.namespace)


def _operator(args: argparse.Namespace) -> int:
    from cronwright.core import config
    from cronwright.operator import main as operator_main
    from cronwright.operator.shard_leases import ShardSettings

    try:
        settings = config.load(args.config)
    except config.ConfigError as error:
        sys.stderr.write(f"cronwright operator: {error}\n")
        return 2
    try:
        webhook = webhook_options(args)
    except ValueError as error:
        sys.stderr.write(f"cronwright operator: {error}\n")
        return 2
    shards = ShardSettings(
        shards=args.shards, lease_seconds=args.shard_lease_seconds, window=args.fire_window
    )
    if problem := shards.problem():
        sys.stderr.write(f"cronwright operator: {problem}\n")
        return 2
    options = operator_main.Options(
        kubeconfig=args.kubeconfig,
        namespaces=args.namespace or [],
        host=args.host,
        port=args.port,
        shards=shards,
        max_concurrent_runs=args.max_concurrent_runs,
        log_format=args.log_format,
        config=settings,
        heartbeat_interval=args.heartbeat_interval,
        webhook=webhook,
    )
    if args.instance:
        options.instance = args.instance
    if args.lease_namespace:
        options.lease_namespace = args.lease_namespace
    return operator_main.main(options)


def webhook_options(args: argparse.Namespace) -> WebhookOptions:
    """The operator's --webhook-* flags as the webhook's options (a ValueError names the bad
    flag); public because the admission tests check this translation without a cluster."""
    from pathlib import Path

    from cronwright.operator.admission import WebhookOptions

    service = None
    if args.webhook_service:
        namespace, _, name = args.webhook_service.partition("/")
        if not namespace or not name or "/" in name:
            raise ValueError(f"--webhook-service: expected NAMESPACE/NAME, got {args.webhook_service!r}")
        service = (namespace, name)
    return WebhookOptions(
        port=args.webhook_port,
        host=args.webhook_host,
        cert_dir=Path(args.webhook_cert_dir) if args.webhook_cert_dir else None,
        configuration=args.webhook_configuration,
        service=service,
        failure_policy=args.webhook_failure_policy,
    )


def _api(args: argparse.Namespace) -> int:
    from cronwright.api import app
    from cronwright.core import config

    try:
        named = config.load(args.config)
    except config.ConfigError as error:
        sys.stderr.write(f"cronwright api: {error}\n")
        return 2
    settings = app.ApiSettings(
        kubeconfig=args.kubeconfig,
        keys_namespace=args.keys_namespace,
        rate_limit_per_second=args.rate_limit_per_second,
        rate_limit_burst=args.rate_limit_burst,
        key_cache_seconds=args.key_cache_seconds,
        config=named,
    )
    return app.main(settings, args.host, args.port)


def _controlplane_build(_: argparse.Namespace) -> int:
    from cronwright.core.controlplane.binaries import ensure_binaries, ensure_helm, ensure_promtool

    binaries = ensure_binaries()
    helm = ensure_helm()
    promtool = ensure_promtool()
    print(binaries.kube_apiserver.parent)
    print(helm.parent)
    print(promtool.parent)
    return 0


def _node_build(args: argparse.Namespace) -> int:
    from cronwright.core.controlplane import debian
    from cronwright.core.controlplane.binaries import ensure_node_binaries
    from cronwright.core.controlplane.node import NODE_PACKAGES

    try:
        if args.install_tools:
            installed = debian.install_packages(NODE_PACKAGES, "the real node")
            if installed:
                print(f"[cronwright] installed {', '.join(installed)}", file=sys.stderr)
        binaries = ensure_node_binaries()
    except RuntimeError as error:
        sys.stderr.write(f"cronwright node-build: {error}\n")
        return 1
    print(binaries.kubelet.parent)
    print(binaries.containerd.parent)
    return 0


def _image_build(args: argparse.Namespace) -> int:
    import json

    from cronwright.core.controlplane import images

    if args.install_tools:
        installed = images.install_build_tools()
        if installed:
            print(f"[cronwright] installed {', '.join(installed)}", file=sys.stderr)
    try:
        built = images.ensure_images()
    except RuntimeError as error:
        sys.stderr.write(f"cronwright image-build: {error}\n")
        return 1
    named = {"pause": built.pause, "busybox": built.busybox, "cronwright": built.cronwright}
    if args.json:
        listing = {name: {"ref": i.ref, "archive": str(i.archive)} for name, i in named.items()}
        print(json.dumps({**listing, "base": built.base}, indent=2))
    else:
        for name, image in named.items():
            print(f"{name}\t{image.ref}\t{image.archive}")
        print(f"base\t{built.base}")
    return 0


def _with_kube(kubeconfig: str | None, call: Callable[[Kube], Awaitable[T]]) -> T:
    """One API call for a CLI command; refusals become a one-line error, not a traceback."""
    from cronwright.core.kube import ApiError, Unreachable, run_with_kube

    try:
        return run_with_kube(kubeconfig, call)
    except Unreachable as error:
        raise SystemExit(f"cronwright: cannot reach the API server: {error.message}") from None
    except ApiError as error:
        raise SystemExit(f"cronwright: the API server refused: {error}") from None
    except ValueError as error:
        raise SystemExit(f"cronwright: {error}") from None


def _apikey_create(args: argparse.Namespace) -> int:
    from cronwright.api import apikeys

    scopes = args.scope or ["read", "write"]

    async def create(kube: Kube) -> tuple[str, str]:
        found = await apikeys.check_tenant_namespace(kube, args.namespace, create=args.create_namespace)
        plaintext = await apikeys.create_key(
            kube,
            args.namespace,
            scopes,
            keys_namespace=args.keys_namespace,
            create_namespace=args.create_namespace,
            rate_per_second=args.rate_limit_per_second,
            rate_burst=args.rate_limit_burst,
            description=args.description,
        )
        return found, plaintext

    found, plaintext = _with_kube(args.kubeconfig, create)
    if found == "created":
        print(f"created namespace {args.namespace}", file=sys.stderr)
    elif found == "unknown":
        print(
            f"could not check that namespace {args.namespace} exists (no right to read namespaces):"
            " the key is refused on every write until it does",
            file=sys.stderr,
        )
    print(plaintext)
    scope_list = ",".join(sorted(set(scopes)))
    print(
        f"key {apikeys.parse_key(plaintext)} for namespace {args.namespace}, scopes {scope_list}:"
        " shown once, it is not stored anywhere",
        file=sys.stderr,
    )
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    from cronwright.api import apikeys

    keys = _with_kube(args.kubeconfig, lambda kube: apikeys.list_keys(kube, args.keys_namespace))
    rows = [("KEY ID", "NAMESPACE", "SCOPES", "CREATED", "DESCRIPTION")]
    rows += [
        (i.key.key_id, i.key.namespace, ",".join(sorted(i.key.scopes)), i.created_at, i.description or "")
        for i in keys
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from cronwright.api import apikeys

    found = _with_kube(
        args.kubeconfig, lambda kube: apikeys.revoke_key(kube, args.key_id, args.keys_namespace)
    )
    if not found:
        print(f"no key {args.key_id} in namespace {args.keys_namespace}", file=sys.stderr)
        return 1
    print(
        f"revoked key {args.key_id}; running facades stop accepting it within their key cache time"
        " (--key-cache-seconds, 5 s by default)",
        file=sys.stderr,
    )
    return 0


def _seconds(text: str) -> float:
    """A duration flag: a finite number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, 0 or more: {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cronwright", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    crd = commands.add_parser("crd", help="print a CustomResourceDefinition (default: CronJobSpec)")
    crd.add_argument("--kind", choices=["CronJobSpec", "CronProject"], default="CronJobSpec")
    crd.set_defaults(func=_crd)

    dev = commands.add_parser("dev", help="run a local control plane with cronwright on it until Ctrl-C")
    dev.add_argument(
        "--state-dir",
        default=".cronwright",
        help="kept across restarts: the cluster's data, the API key, the ports; also dev.json, env, logs",
    )
    dev.add_argument("--namespace", default="default", help="namespace for your CronJobSpecs")
    dev.add_argument("--config", help="settings file (default: one with example handlers and channels)")
    dev.add_argument(
        "--reset", action="store_true", help="delete the kept cluster, API key and ports first: start clean"
    )
    dev.set_defaults(func=_dev)

    cluster = commands.add_parser(
        "dev-cluster",
        help="run a real single-node Kubernetes with cronwright installed by its chart until Ctrl-C (root)",
    )
    cluster.add_argument("--state-dir", default=".cronwright", help="where cluster.json and cluster-env go")
    cluster.add_argument("--namespace", default="default", help="namespace the printed API key may use")
    cluster.set_defaults(func=_dev_cluster)

    op = commands.add_parser("operator", help="run the operator: fire every CronJobSpec's runs on time")
    op.add_argument("--kubeconfig", help=KUBECONFIG_HELP)
    op.add_argument(
        "--namespace", action="append", help="watch this namespace (repeatable; default: all namespaces)"
    )
    op.add_argument(
        "--instance",
        help="this process's id in shard Leases and its own Lease (default: $POD_NAME or host name)",
    )
    op.add_argument(
        "--lease-namespace", help="namespace of the instance Leases (default: $POD_NAMESPACE or default)"
    )
    op.add_argument("--host", default="127.0.0.1", help="address of /metrics, /healthz and /readyz")
    op.add_argument("--port", type=int, default=8080, help="port of /metrics, /healthz and /readyz")
    op.add_argument(
        "--shards", type=int, default=32, help="shards the resources fall into, one Lease each (default 32)"
    )
    op.add_argument(
        "--shard-lease-seconds",
        type=int,
        default=15,
        help="how long a shard Lease stands unrenewed before another instance takes it (default 15)",
    )
    op.add_argument(
        "--fire-window",
        type=float,
        default=5.0,
        help="seconds ahead of now each shard Lease renewal lets this instance fire (default 5)",
    )
    op.add_argument(
        "--max-concurrent-runs", type=int, default=128, help="runs executing at once (= HTTP connections)"
    )
    op.add_argument("--log-format", choices=["json", "text"], default="json")
    op.add_argument("--heartbeat-interval", type=float, default=10.0, help="seconds between heartbeat checks")
    op.add_argument("--config", help="settings file shared with the facade (docs/configuration.md)")
    hook = op.add_argument_group("validating admission webhook (docs/security.md)")
    hook.add_argument("--webhook-port", type=int, default=0, help="serve the webhook on this port (0: off)")
    hook.add_argument("--webhook-host", default="127.0.0.1", help="listen address of the webhook")
    hook.add_argument(
        "--webhook-cert-dir",
        help="folder with tls.crt, tls.key and optionally ca.crt (default: a self-signed CA made at start)",
    )
    hook.add_argument(
        "--webhook-configuration",
        metavar="NAME",
        help="create and keep up to date this ValidatingWebhookConfiguration, with the CA bundle",
    )
    hook.add_argument(
        "--webhook-service",
        metavar="NAMESPACE/NAME",
        help="the configuration points at this Service (port 443) instead of a URL",
    )
    hook.add_argument(
        "--webhook-failure-policy",
        choices=["Ignore", "Fail"],
        default="Ignore",
        help="what the API server does when the webhook cannot answer (default: Ignore)",
    )
    op.set_defaults(func=_operator)

    keys = commands.add_parser("apikey", help="create, list and revoke API keys of the REST facade")
    key_commands = keys.add_subparsers(dest="apikey_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--keys-namespace", default="cronwright-system", help="namespace of the key Secrets (the facade's)"
    )
    common.add_argument("--kubeconfig", help=KUBECONFIG_HELP)
    create = key_commands.add_parser("create", parents=[common], help="make a key; print it (once) on stdout")
    create.add_argument("--namespace", required=True, help="the tenant namespace the key may use")
    create.add_argument(
        "--create-namespace",
        action="store_true",
        help="create the tenant namespace when it does not exist (default: refuse the key)",
    )
    create.add_argument(
        "--scope", action="append", help="grant this scope (repeatable; default: read and write)"
    )
    create.add_argument("--rate-limit-per-second", type=float, help="this key's own request rate")
    create.add_argument("--rate-limit-burst", type=int, help="this key's own burst size")
    create.add_argument("--description", help="a note for `apikey list`")
    create.set_defaults(func=_apikey_create)
    key_commands.add_parser("list", parents=[common], help="show keys (never their hashes)").set_defaults(
        func=_apikey_list
    )
    revoke = key_commands.add_parser("revoke", parents=[common], help="delete a key")
    revoke.add_argument("key_id", help="the 12 hex digits after cwk_")
    revoke.set_defaults(func=_apikey_revoke)

    api = commands.add_parser("api", help="run the REST facade (the five cron-job APIs)")
    api.add_argument("--kubeconfig", help=KUBECONFIG_HELP)
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--keys-namespace", default="cronwright-system", help="namespace of the API key Secrets")
    api.add_argument("--rate-limit-per-second", type=float, default=20.0, help="requests per second per key")
    api.add_argument("--rate-limit-burst", type=int, default=40, help="burst size per key")
    api.add_argument(
        "--key-cache-seconds",
        type=_seconds,
        default=5.0,
        help="how long a key lookup is trusted: a revoked key works at most this long (0: ask every time)",
    )
    api.add_argument("--config", help="settings file: named handlers and channels (docs/configuration.md)")
    api.set_defaults(func=_api)

    build = commands.add_parser(
        "controlplane-build",
        help="build (or find cached) etcd, kube-apiserver, kubectl, helm and promtool; print their folders",
    )
    build.set_defaults(func=_controlplane_build)

    node = commands.add_parser(
        "node-build",
        help="build (or find cached) kube-controller-manager, kube-scheduler, kube-proxy, kubelet and"
        " containerd for the real-node tests; print their folders (docs/real-cluster.md)",
    )
    node.add_argument(
        "--install-tools",
        action="store_true",
        help="apt-get install runc, containernetworking-plugins and iptables when missing",
    )
    node.set_defaults(func=_node_build)

    image = commands.add_parser(
        "image-build",
        help="build (or find cached) the pause, test busybox and cronwright images without Docker;"
        " print NAME REF ARCHIVE per image (docs/images.md)",
    )
    image.add_argument(
        "--install-tools", action="store_true", help="apt-get install buildah, mmdebstrap, ... when missing"
    )
    image.add_argument("--json", action="store_true", help="print the references and archives as JSON")
    image.set_defaults(func=_image_build)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
