"""`kubectl_complete-cronwright`: shell completion of `kubectl cronwright`.

kubectl (1.26+) completes a plugin's arguments by running `kubectl_complete-<plugin>` from
PATH with the words typed after the plugin name, the last one being the word to complete
("" for a new one); it reads one candidate per line and an optional last line `:<cobra
directive>`. So kubectl's own completion script (`kubectl completion bash|zsh|fish|
powershell`) completes this plugin too, verbs, flags and job names alike.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from cronwright.kubectl import main as plugin
from cronwright.kubectl.output import FORMATS

#: Cobra's ShellCompDirectiveNoFileComp: offer these words, never file names.
NO_FILES = ":4"
#: ShellCompDirectiveDefault: let the shell complete file names (for --kubeconfig).
FILES = ":0"
VERBS = ("list", "next", "history", "trigger", "suspend", "resume")
COMMON_FLAGS = ("--namespace", "-n", "--context", "--kubeconfig", "--output", "-o")
VERB_FLAGS = {"list": ("--all-namespaces", "-A"), "next": ("--count", "-c"), "history": ("--result",)}
VALUE_FLAGS = {
    "-n",
    "--namespace",
    "--context",
    "--kubeconfig",
    "-o",
    "--output",
    "-c",
    "--count",
    "--result",
}


def candidates(
    words: Sequence[str], lookup: Callable[[str, dict[str, str]], list[str]]
) -> tuple[list[str], str]:
    """What may come in place of the last word, and the directive for the shell.

    `lookup(kind, flags)` answers the cluster's part ("names" of CronJobSpecs, "namespaces",
    "contexts"), given the flags typed so far; it returns [] when it cannot.
    """
    *before, current = words or [""]
    flags: dict[str, str] = {}
    positional: list[str] = []
    pending: str | None = None
    for word in before:
        if pending:
            flags[pending] = word
            pending = None
        elif word in VALUE_FLAGS:
            pending = word
        elif "=" in word and word.split("=", 1)[0] in VALUE_FLAGS:
            flag, value = word.split("=", 1)
            flags[flag] = value
        elif not word.startswith("-"):
            positional.append(word)
    named = {_long(k): v for k, v in flags.items()}
    verb = positional[0] if positional else None
    if pending:
        flag = _long(pending)
        if flag == "--kubeconfig":
            return [], FILES
        options = {
            "--output": list(FORMATS),
            "--result": list(plugin.RESULTS),
            "--namespace": None,
            "--context": None,
            "--count": [],
        }[flag]
        if options is None:
            options = lookup("namespaces" if flag == "--namespace" else "contexts", named)
        return _starting(options, current), NO_FILES
    if current.startswith("-"):
        # The shared flags go before or after the verb (`-n NS list`); before it, also -A,
        # which the plugin accepts there for `list`.
        extra = VERB_FLAGS.get(verb, ()) if verb else VERB_FLAGS["list"]
        return _starting([*COMMON_FLAGS, *extra], current), NO_FILES
    if verb is None:
        return _starting(list(VERBS), current), NO_FILES
    if verb in plugin.NAMED_VERBS and len(positional) == 1:
        return _starting(lookup("names", named), current), NO_FILES
    return [], NO_FILES


def _long(flag: str) -> str:
    return {"-n": "--namespace", "-o": "--output", "-c": "--count"}.get(flag, flag)


def _starting(options: list[str], prefix: str) -> list[str]:
    return [o for o in options if o.startswith(prefix)]


def lookup(kind: str, flags: dict[str, str]) -> list[str]:
    """The cluster's answers, read like the plugin reads; nothing on any error (completion
    must never print a traceback into the user's prompt)."""
    from kubernetes import config as k8s_config

    from cronwright.core.kube import default_namespace, refs

    kubeconfig, context = flags.get("--kubeconfig"), flags.get("--context")
    try:
        if kind == "contexts":
            path = kubeconfig or os.environ.get("KUBECONFIG") or None
            contexts, _ = k8s_config.list_kube_config_contexts(config_file=path)
            return sorted(c["name"] for c in contexts)
        namespace = flags.get("--namespace") or default_namespace(kubeconfig, context=context)
        target = plugin.Target(kubeconfig, context, namespace)
        collection = refs.namespace() if kind == "namespaces" else refs.cronjobspec(namespace)
        listed = target.run(lambda kube: kube.get(collection, params={"limit": "500"}))
        return sorted(item["metadata"]["name"] for item in listed.get("items") or [])
    except Exception:
        return []


def main(argv: list[str] | None = None) -> int:
    words, directive = candidates(sys.argv[1:] if argv is None else argv, lookup)
    sys.stdout.write("".join(f"{word}\n" for word in words) + directive + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
