"""The README-as-a-test convention (tests/support/readme.py) without a cluster: how blocks,
skip markers, commands and `# → ` expectations are read, and what each expectation accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import readme

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """\
# Title

<!-- readme-test: skip — needs a Docker engine -->
```sh
docker build -t x .
```

```yaml
a: 1
```

```sh
# a comment is no command
H="X: y"
curl -s "$U" -d '{
  "a": 1}'
# → 201 {"a": 1}
kubectl apply -f - <<'EOF'
kind: Thing
EOF
# → exit 1
# → refused
echo one \\
  two   # → not an expectation: part of the command
```
"""


def test_blocks_carry_their_language_and_skip_reason() -> None:
    found = readme.blocks(SAMPLE)
    assert [(b.lang, b.skip) for b in found] == [
        ("sh", "needs a Docker engine"),
        ("yaml", None),
        ("sh", None),
    ]
    assert found[0].line == 4


def test_commands_are_split_the_way_bash_reads_them() -> None:
    commands = readme.commands(readme.blocks(SAMPLE)[2])
    assert [c.text.splitlines()[0] for c in commands] == [
        'H="X: y"',
        'curl -s "$U" -d \'{',
        "kubectl apply -f - <<'EOF'",
        "echo one \\",
    ]
    assert commands[1].line == 15
    assert commands[1].expect == readme.Expectation(status=201, json_docs=[{"a": 1}])
    assert commands[2].text.endswith("EOF") and commands[2].expect.exit_code == 1
    assert commands[2].expect.texts == ["refused"]
    assert commands[3].expect == readme.Expectation()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- readme-test: skip -->\n```sh\nls\n```\n", "write the marker as"),
        ("<!-- readme-test: skip - hyphen, not a dash -->\n```sh\nls\n```\n", "write the marker as"),
        ("<!-- readme-test: skip — a reason -->\n```yaml\na: 1\n```\n", "right before a ```sh block"),
        ("<!-- readme-test: skip — a reason -->\n\ntext\n```sh\nls\n```\n", "right before a ```sh block"),
    ],
)
def test_a_bad_marker_is_an_error_not_a_silent_skip(text: str, message: str) -> None:
    with pytest.raises(readme.ReadmeError, match=message):
        readme.blocks(text)


def test_an_expectation_needs_a_command_and_a_command_an_end() -> None:
    with pytest.raises(readme.ReadmeError, match="no command before it"):
        readme.commands(readme.Block(1, "sh", ["# → 200"]))
    with pytest.raises(readme.ReadmeError, match="never ends"):
        readme.commands(readme.Block(1, "sh", ["echo 'open"]))
    with pytest.raises(readme.ReadmeError, match="not JSON"):
        readme.commands(readme.Block(1, "sh", ["true", "# → {nope}"]))


@pytest.mark.parametrize(
    ("expected", "actual", "holds"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": {"b": "x"}}, {"a": {"b": "x", "c": 1}}, True),
        ({"a": 1}, [{"a": 1}], False),
        ({"id": "crn_…"}, {"id": "crn_123"}, True),
        ({"id": "crn_…"}, {"id": "job_123"}, False),
        ({"id": "crn_…"}, {"id": 7}, False),
        ([], [], True),
        ([], [1], False),
        ([{"a": 1}], [{"a": 1, "b": 0}], True),
        ([1, "…"], [1, 2, 3], True),
        ([1, "…"], [2], False),
        ({"n": 1}, {"n": True}, False),
        ({"n": None}, {"n": None}, True),
    ],
)
def test_json_expectations_are_contained_in_the_answer(expected: object, actual: object, holds: bool) -> None:
    assert readme.contains(expected, actual) is holds


NOT_JSON = 'stdout is not JSON, expected one containing {"ok": true}'


def _command(*expectations: str) -> readme.Command:
    return readme.commands(readme.Block(1, "sh", ["curl -s x", *expectations]))[0]


@pytest.mark.parametrize(
    ("command", "rc", "out", "err", "problem"),
    [
        (_command(), 0, "", "HTTP-STATUS 200\n", None),
        (_command(), 0, "", "HTTP-STATUS 404\n", "HTTP statuses [404], expected 2xx"),
        (_command("# → 400"), 0, "", "HTTP-STATUS 400\n", None),
        (_command("# → 400"), 0, "", "HTTP-STATUS 200\n", "HTTP status 200, expected 400"),
        (_command(), 22, "", "", "exit status 22, expected 0"),
        (_command(), None, "", "", "did not run (an earlier command stopped the session)"),
        (_command('# → {"ok": true}'), 0, '{"ok": true, "id": 1}', "HTTP-STATUS 200\n", None),
        (_command('# → {"ok": true}'), 0, "<html>", "", NOT_JSON),
        (_command('# → {"ok": true}'), 0, '{"ok": false}', "", 'stdout does not contain {"ok": true}'),
        (_command("# → exit 1", "# → denied"), 1, "", "webhook denied it", None),
        (_command("# → HTTP-STATUS"), 0, "", "HTTP-STATUS 200\n", "output does not contain 'HTTP-STATUS'"),
    ],
)
def test_a_command_keeps_or_breaks_its_promises(
    command: readme.Command, rc: int | None, out: str, err: str, problem: str | None
) -> None:
    assert readme.problem(command, rc, out, err) == problem


def test_the_readme_follows_the_convention_and_names_the_test_command() -> None:
    """Parsing needs no cluster; running it is tests/cluster/test_readme.py."""
    text = (ROOT / "README.md").read_text()
    for block in readme.blocks(text):
        if block.lang == "sh" and block.skip is None:
            readme.commands(block)
    assert "make test" in text  # .ci/run calls it; README must keep naming it
