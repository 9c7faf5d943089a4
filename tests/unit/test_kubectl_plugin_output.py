"""The kubectl plugin's pure parts: its command line, completion answers and its kubectl-style
table."""

from __future__ import annotations

import pytest

from cronwright.kubectl import output
from cronwright.kubectl.completion import FILES, NO_FILES, VERBS, candidates
from cronwright.kubectl.main import parse

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
        # Shared flags before the verb, as kubectl users type them.
        (["-n", "shop", ""], list(VERBS)),
        (["--context=prod", "-o", "json", "h"], ["history"]),
        (["-n", "shop", "--"], ["--namespace", "--context", "--kubeconfig", "--output", "--all-namespaces"]),
        (["-n", ""], ["default", "shop"]),
        (["-o", "y"], ["yaml"]),
        (["-A", "l"], ["list"]),
        (["-n", "shop", "next", "--c"], ["--context", "--count"]),
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


def test_names_are_looked_up_with_flags_typed_before_the_verb() -> None:
    asked.clear()
    assert candidates(["-n", "shop", "--context", "prod", "next", ""], lookup)[0] == CLUSTER["names"]
    assert asked == [("names", {"--namespace": "shop", "--context": "prod"})]


@pytest.mark.parametrize(
    "argv",
    [
        ["-n", "shop", "--context", "prod", "--kubeconfig", "/k", "-o", "json", "history", "x"],
        ["history", "x", "-n", "shop", "--context", "prod", "--kubeconfig", "/k", "-o", "json"],
        ["--namespace=shop", "--context=prod", "history", "--kubeconfig=/k", "x", "--output=json"],
    ],
)
def test_shared_flags_before_or_after_the_verb(argv: list[str]) -> None:
    args = vars(parse(argv))
    del args["func"]
    assert args == {
        "verb": "history",
        "name": "x",
        "namespace": "shop",
        "context": "prod",
        "kubeconfig": "/k",
        "output": "json",
        "all_namespaces": False,
        "result": None,
    }


def test_defaults_and_the_later_flag_wins() -> None:
    args = vars(parse(["next", "x"]))
    assert {k: args[k] for k in ("namespace", "context", "kubeconfig", "output", "count")} == {
        "namespace": None,
        "context": None,
        "kubeconfig": None,
        "output": "table",
        "count": 10,
    }
    assert parse(["-n", "a", "list", "-n", "b"]).namespace == "b"
    assert parse(["-o", "yaml", "list", "-o", "json"]).output == "json"
    assert parse(["-o", "yaml", "list", "-n", "b"]).output == "yaml", "a later flag leaves the others"


@pytest.mark.parametrize("argv", [["-A", "list"], ["list", "-A"], ["--all-namespaces", "list", "-o", "json"]])
def test_all_namespaces_before_or_after_list(argv: list[str]) -> None:
    assert parse(argv).all_namespaces is True


def test_all_namespaces_is_for_list_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        parse(["-A", "next", "x"])
    assert refused.value.code == 2
    assert "-A/--all-namespaces applies to list only, not to next" in capsys.readouterr().err


@pytest.mark.parametrize("flag", candidates(["-"], lookup)[0])
def test_every_flag_completion_offers_before_the_verb_is_accepted_there(flag: str) -> None:
    values = {"--namespace": "shop", "--context": "prod", "--kubeconfig": "/k", "--output": "json"}
    value = values.get({"-n": "--namespace", "-o": "--output"}.get(flag, flag))
    parse([flag, *([value] if value else []), "list"])


def test_table_is_kubectls_layout() -> None:
    text = output.table([["NAME", "LAST RESULT"], ["a-long-name", "Failed"], ["b", ""]])
    assert text == "NAME          LAST RESULT\na-long-name   Failed\nb\n"


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (0, "0ms"), (999, "999ms"), (1250, "1.2s"), (59_999, "60.0s"), (61_000, "1m01s")],
)
def test_duration(ms: int | None, text: str) -> None:
    assert output.duration(ms) == text
