"""The `cronwright` command: one entry point for every part of the product."""

from __future__ import annotations

import argparse
import sys


def _crd(_: argparse.Namespace) -> int:
    from cronwright.core import crd

    sys.stdout.write(crd.render())
    return 0


def _dev(args: argparse.Namespace) -> int:
    from cronwright.core import dev

    return dev.run(state_dir=args.state_dir, namespace=args.namespace)


def _operator(args: argparse.Namespace) -> int:
    from cronwright.operator import main as operator_main

    options = operator_main.Options(
        kubeconfig=args.kubeconfig,
        namespaces=args.namespace or [],
        host=args.host,
        port=args.port,
        claim_ahead=args.claim_ahead,
        max_concurrent_runs=args.max_concurrent_runs,
        log_format=args.log_format,
    )
    if args.instance:
        options.instance = args.instance
    if args.lease_namespace:
        options.lease_namespace = args.lease_namespace
    return operator_main.main(options)


def _controlplane_build(_: argparse.Namespace) -> int:
    from cronwright.core.controlplane.binaries import ensure_binaries

    binaries = ensure_binaries()
    print(binaries.kube_apiserver.parent)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cronwright", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    commands.add_parser("crd", help="print the CronJobSpec CustomResourceDefinition").set_defaults(func=_crd)

    dev = commands.add_parser("dev", help="run a local control plane with cronwright on it until Ctrl-C")
    dev.add_argument("--state-dir", default=".cronwright", help="where dev.json and the kubeconfig go")
    dev.add_argument("--namespace", default="default", help="namespace for your CronJobSpecs")
    dev.set_defaults(func=_dev)

    op = commands.add_parser("operator", help="run the operator: fire every CronJobSpec's runs on time")
    op.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)"
    )
    op.add_argument(
        "--namespace", action="append", help="watch this namespace (repeatable; default: all namespaces)"
    )
    op.add_argument(
        "--instance", help="this process's id in claims and its Lease (default: $POD_NAME or host name)"
    )
    op.add_argument(
        "--lease-namespace", help="namespace of the instance Leases (default: $POD_NAMESPACE or default)"
    )
    op.add_argument("--host", default="127.0.0.1", help="address of /metrics, /healthz and /readyz")
    op.add_argument("--port", type=int, default=8080, help="port of /metrics, /healthz and /readyz")
    op.add_argument(
        "--claim-ahead", type=float, default=5.0, help="seconds before a run that it is claimed in status"
    )
    op.add_argument("--max-concurrent-runs", type=int, default=512, help="runs executing at once")
    op.add_argument("--log-format", choices=["json", "text"], default="json")
    op.set_defaults(func=_operator)

    build = commands.add_parser(
        "controlplane-build",
        help="build (or find cached) etcd, kube-apiserver and kubectl; print their folder",
    )
    build.set_defaults(func=_controlplane_build)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
