"""`kubectl cronwright`: list CronJobSpecs, preview their next runs, read their history,
run one now, suspend and resume — through the API server only, so RBAC applies.

kubectl finds this program on PATH by its name (`kubectl-cronwright`) and passes every
argument after `cronwright` on; its completion helper is `kubectl_complete-cronwright`
(cronwright.kubectl.completion).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cronwright.core import models
from cronwright.core.kube import ApiError, Kube, Unreachable, default_namespace, load_credentials, refs
from cronwright.core.runs import TRIGGER_ANNOTATION, manual_run_id
from cronwright.kubectl import output

RESOURCE = f"{models.PLURAL}.{models.GROUP}"
RESULTS = tuple(str(r) for r in models.RunResult)
#: Verbs taking a CronJobSpec name (what completion offers names for).
NAMED_VERBS = ("next", "history", "trigger", "suspend", "resume")


class Failure(Exception):
    """A one-line error for the user (kubectl's `error: ...` style); exit status 1."""


@dataclass
class Target:
    """Where the command acts: the kubeconfig and context kubectl would use, and a namespace."""

    kubeconfig: str | None
    context: str | None
    namespace: str
    all_namespaces: bool = False

    @classmethod
    def of(cls, args: argparse.Namespace) -> Target:
        try:
            namespace = args.namespace or default_namespace(args.kubeconfig, context=args.context)
        except (ValueError, OSError) as error:
            raise Failure(str(error)) from None
        except Exception as error:  # the kubernetes loader's ConfigException and friends
            raise Failure(
                f"cannot read the kubeconfig {_kubeconfig_name(args.kubeconfig)}: {error}"
            ) from None
        return cls(args.kubeconfig, args.context, namespace, args.all_namespaces)

    def run(self, call: Callable[[Kube], Awaitable[Any]]) -> Any:
        try:
            credentials = load_credentials(self.kubeconfig, context=self.context)
        except Exception as error:  # ConfigException: no kubeconfig, unknown context, ...
            raise Failure(
                f"cannot read the kubeconfig {_kubeconfig_name(self.kubeconfig)}: {error}"
            ) from None

        async def go() -> Any:
            kube = Kube(credentials, max_connections=4, component="kubectl-cronwright")
            try:
                return await call(kube)
            finally:
                await kube.close()

        try:
            return asyncio.run(go())
        except Unreachable as error:
            raise Failure(f"cannot reach the API server at {credentials.host}: {error.message}") from None
        except ApiError as error:
            raise Failure(f"Error from server ({error.reason or error.status}): {error.message}") from None


def _kubeconfig_name(kubeconfig: str | None) -> str:
    return kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"


def _get(target: Target, name: str) -> dict[str, Any]:
    return target.run(lambda kube: kube.get(refs.cronjobspec(target.namespace, name)))


def _list(target: Target) -> list[dict[str, Any]]:
    collection = refs.cronjobspec(None if target.all_namespaces else target.namespace)
    listed = target.run(lambda kube: kube.get(collection))
    items = listed.get("items") or []
    return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))


def _print(args: argparse.Namespace, value: Any, rows: Callable[[], list[list[str]]]) -> None:
    sys.stdout.write(output.table(rows()) if args.output == "table" else output.dump(value, args.output))


def cmd_list(args: argparse.Namespace, now: datetime) -> int:
    target = Target.of(args)
    items = [output.job_item(obj, now, None) for obj in _list(target)]
    if args.output == "table" and not items:
        where = "any namespace" if target.all_namespaces else f"{target.namespace} namespace"
        print(f"No resources found in {where}.", file=sys.stderr)
        return 0
    _print(args, {"items": items}, lambda: output.list_table(items, target.all_namespaces))
    return 0


def cmd_next(args: argparse.Namespace, now: datetime) -> int:
    target = Target.of(args)
    item = output.next_item(_get(target, args.name), now, args.count, None)
    if args.output == "table" and not item["fires"]:
        reason = "it is paused" if item["state"] == "Paused" else "no run is left to fire"
        print(f"{args.name}: no upcoming runs ({reason})", file=sys.stderr)
        return 0
    _print(args, item, lambda: output.next_table(item))
    return 0


def cmd_history(args: argparse.Namespace, _: datetime) -> int:
    target = Target.of(args)
    item = output.history_item(_get(target, args.name), args.result)
    if args.output == "table" and not item["runs"]:
        print(f"{args.name}: no runs in the kept history", file=sys.stderr)
        return 0
    _print(args, item, lambda: output.history_table(item, None))
    return 0


def cmd_trigger(args: argparse.Namespace, now: datetime) -> int:
    """Set the trigger annotation to a fresh value: the operator runs the job once, also
    while it is suspended (docs/operator.md, 'Manual trigger')."""
    target = Target.of(args)
    value = f"kubectl-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    patch = {"metadata": {"annotations": {TRIGGER_ANNOTATION: value}}}
    written = target.run(lambda kube: kube.merge_patch(refs.cronjobspec(target.namespace, args.name), patch))
    run_id = manual_run_id(written["metadata"]["uid"], value)
    item = {"namespace": target.namespace, "name": args.name, "trigger": value, "runId": run_id}
    if args.output == "table":
        print(f"cronjobspec.{models.GROUP}/{args.name} triggered (run {run_id})")
    else:
        sys.stdout.write(output.dump(item, args.output))
    return 0


def _set_suspend(args: argparse.Namespace, suspend: bool) -> int:
    target = Target.of(args)
    current = _get(target, args.name)
    changed = bool(current["spec"].get("suspend")) != suspend
    if changed:
        # No resourceVersion precondition: the field is set, not computed from the old
        # object, and the operator's status writes would make it conflict often.
        patch = {"spec": {"suspend": suspend}}
        target.run(lambda kube: kube.merge_patch(refs.cronjobspec(target.namespace, args.name), patch))
    item = {"namespace": target.namespace, "name": args.name, "suspended": suspend, "changed": changed}
    if args.output == "table":
        word = "suspended" if suspend else "resumed"
        print(f"cronjobspec.{models.GROUP}/{args.name} {word}{'' if changed else ' (no change)'}")
    else:
        sys.stdout.write(output.dump(item, args.output))
    return 0


def cmd_suspend(args: argparse.Namespace, _: datetime) -> int:
    return _set_suspend(args, True)


def cmd_resume(args: argparse.Namespace, _: datetime) -> int:
    return _set_suspend(args, False)


def _shared(top: bool) -> argparse.ArgumentParser:
    """The flags every verb takes, which may also come before the verb (`-n NS list`), as
    with kubectl. The top-level parser holds the defaults; the verbs' copies default to
    SUPPRESS, so a flag not repeated after the verb keeps the value given before it (a
    verb's parser writes every attribute it has a default for over the top-level ones)."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "-n", "--namespace", default=default(None), help="namespace (default: the context's, as kubectl)"
    )
    shared.add_argument(
        "--context", default=default(None), help="kubeconfig context (default: the current one)"
    )
    shared.add_argument(
        "--kubeconfig", default=default(None), help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    shared.add_argument(
        "-o",
        "--output",
        choices=output.FORMATS,
        default=default("table"),
        help="output format (default: table)",
    )
    return shared


ALL_NAMESPACES_HELP = "jobs of every namespace (list only)"


def parser() -> argparse.ArgumentParser:
    common = _shared(top=False)
    root = argparse.ArgumentParser(
        prog="kubectl cronwright",
        parents=[_shared(top=True)],
        description="Look at and steer cronwright CronJobSpecs through the API server. "
        "The namespace, context, kubeconfig and output flags go before or after the verb.",
        epilog="Shell completion: put kubectl_complete-cronwright on PATH beside kubectl-cronwright "
        "(pip installs both) and use kubectl's own completion (`kubectl completion bash|zsh|fish`).",
    )
    root.add_argument("-A", "--all-namespaces", action="store_true", help=ALL_NAMESPACES_HELP)
    verbs = root.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser(
        "list", parents=[common], help="jobs: schedule in words, next run, last result, success rate"
    )
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", default=argparse.SUPPRESS, help=ALL_NAMESPACES_HELP
    )
    listing.set_defaults(func=cmd_list)
    upcoming = verbs.add_parser("next", parents=[common], help="the next fire times, marking DST changes")
    upcoming.add_argument("name")
    upcoming.add_argument("-c", "--count", type=_count, default=10, help="how many (1-1000, default 10)")
    upcoming.set_defaults(func=cmd_next)
    runs = verbs.add_parser("history", parents=[common], help="the kept runs, newest first")
    runs.add_argument("name")
    runs.add_argument("--result", choices=RESULTS, help="only runs with this result")
    runs.set_defaults(func=cmd_history)
    for verb, func, text in (
        ("trigger", cmd_trigger, "run the job once now (also while suspended)"),
        ("suspend", cmd_suspend, "stop scheduled runs (missed ones are not made up)"),
        ("resume", cmd_resume, "start scheduled runs again"),
    ):
        command = verbs.add_parser(verb, parents=[common], help=text)
        command.add_argument("name")
        command.set_defaults(func=func)
    return root


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, shared flags before or after the verb (the later one wins)."""
    root = parser()
    args = root.parse_args(argv)
    if args.all_namespaces and args.verb != "list":
        root.error(f"-A/--all-namespaces applies to list only, not to {args.verb}")
    return args


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1000, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return args.func(args, datetime.now(UTC))
    except Failure as error:
        message = str(error)
        print(message if message.startswith("Error from server") else f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
