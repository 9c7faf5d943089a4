"""The kubectl plugin's pure parts: completion answers and its kubectl-style table."""

from __future__ import annotations

import pytest

from cronwright.kubectl import output
from cronwright.kubectl.completion import FILES, NO_FILES, candidates

CLUSTER = {
    "names": ["nightly", "often", "weekly"],
    "namespaces": ["default", "shop"],
    "contexts": ["dev", "prod"],
}
asked: list[tuple[str, dict[str, str]]] = []


def lookup(kind: str, flags: dict[str, str]) -> list[str]:
    asked.append((kind, flags))
    return CLUSTER[kind]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([""], ["list", "next", "history", "trigger", "suspend", "resume"]),
        (["s"], ["suspend"]),
        (["next", ""], ["nightly", "often", "weekly"]),
        (["next", "o"], ["often"]),
        (["next", "often", ""], []),
        (["list", ""], []),
        (["-n", "shop", "trigger", "w"], ["weekly"]),
        (["list", "-n", ""], ["default", "shop"]),
        (["list", "--namespace", "s"], ["shop"]),
        (["list", "--context", ""], ["dev", "prod"]),
        (["history", "x", "-o", "j"], ["json"]),
        (["history", "x", "--result", "Mi"], ["Missed"]),
        (["next", "x", "--count", ""], []),
        (["list", "--a"], ["--all-namespaces"]),
        (["next", "x", "--c"], ["--context", "--count"]),
    ],
)
def test_candidates(words: list[str], expected: list[str]) -> None:
    assert candidates(words, lookup) == (expected, NO_FILES)


def test_kubeconfig_completes_file_names() -> None:
    assert candidates(["list", "--kubeconfig", ""], lookup) == ([], FILES)


def test_names_are_looked_up_with_the_flags_typed_so_far() -> None:
    asked.clear()
    candidates(["next", "--context=prod", "-n", "shop", "--kubeconfig", "/k", ""], lookup)
    assert asked == [("names", {"--context": "prod", "--namespace": "shop", "--kubeconfig": "/k"})]


def test_table_is_kubectls_layout() -> None:
    text = output.table([["NAME", "LAST RESULT"], ["a-long-name", "Failed"], ["b", ""]])
    assert text == "NAME          LAST RESULT\na-long-name   Failed\nb\n"


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (0, "0ms"), (999, "999ms"), (1250, "1.2s"), (59_999, "60.0s"), (61_000, "1m01s")],
)
def test_duration(ms: int | None, text: str) -> None:
    assert output.duration(ms) == text
