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
