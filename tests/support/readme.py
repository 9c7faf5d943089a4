"""README.md as a test: its shell examples, split into commands, with what each promises.

Every ```sh block of README.md runs, in order, in one bash session (variables carry over
from block to block). A block that cannot run here is preceded by the marker
``<!-- readme-test: skip — <reason> -->`` on the line before its fence; a marker without a
reason, or not followed by a ```sh fence, is an error, so none goes stale silently.

A block is split into commands the way bash reads it: lines are added to a command until
``bash -n`` accepts it (so multi-line quotes, continuation lines and here-documents stay
one command). A comment line ``# → <expectation>`` right after a command says what it
promises; several may follow one command, and all must hold:

- ``# → exit N``: the exit status is N (without it, a command must exit 0);
- ``# → 201``, or ``# → 201 <JSON or text>``: the HTTP status of the command's last curl
  (without it, every curl of the command must get a 2xx);
- ``# → {...}`` or ``# → [...]``: stdout is JSON containing this (objects: these keys,
  recursively; lists: the same length, element by element, or a prefix when the last
  expected element is ``"…"``; a string ending in ``…`` matches any string it begins);
- ``# → <text>``: the text appears in stdout or stderr (kubectl's own words).

The session's ``curl`` is a function adding ``-w '%{stderr}HTTP-STATUS %{http_code}\\n'``,
so statuses are known without changing what a README command sends or prints on stdout.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SKIP = re.compile(r"^<!-- readme-test: skip — (?P<reason>.*\S.*?) -->$")
SKIP_LOOSE = re.compile(r"^<!--\s*readme-test\b")
EXPECT = "# → "
STATUS_LINE = re.compile(r"^HTTP-STATUS (\d{3})$", re.MULTILINE)
ELLIPSIS = "…"

CURL_FUNCTION = "curl() { command curl -w '%{stderr}HTTP-STATUS %{http_code}\\n' \"$@\"; }"


class ReadmeError(ValueError):
    """The README breaks the convention (a bad marker, an expectation with no command)."""


@dataclass
class Expectation:
    exit_code: int = 0
    status: int | None = None
    json_docs: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@dataclass
class Command:
    line: int
    """Where the command starts in README.md (1-based)."""
    text: str
    expect: Expectation = field(default_factory=Expectation)


@dataclass
class Block:
    line: int
    """The fence's line in README.md (1-based)."""
    lang: str
    body: list[str]
    skip: str | None = None


def blocks(readme: str) -> list[Block]:
    """Every fenced block with its language and the skip reason before it, if any."""
    lines = readme.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            lang = line[3:].strip()
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            found.append(Block(index + 1, lang, lines[index + 1 : end], _skip_reason(lines, index)))
            index = end + 1
            continue
        if SKIP_LOOSE.match(line.strip()):
            where = f"README.md:{index + 1}"
            if not SKIP.match(line.strip()):
                raise ReadmeError(f"{where}: write the marker as <!-- readme-test: skip — reason -->")
            after = next((n for n in lines[index + 1 :] if n.strip()), "")
            if after.strip() != "```sh":
                raise ReadmeError(f"{where}: a skip marker must come right before a ```sh block")
        index += 1
    return found


def _skip_reason(lines: list[str], fence: int) -> str | None:
    before = next((lines[i].strip() for i in range(fence - 1, -1, -1) if lines[i].strip()), "")
    match = SKIP.match(before)
    return match.group("reason") if match else None


def commands(block: Block) -> list[Command]:
    """The block's commands, each with the expectations written after it."""
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, line in enumerate(block.body):
        number = block.line + 1 + offset
        if not pending and line.strip().startswith(EXPECT.strip()):
            if not found:
                raise ReadmeError(f"README.md:{number}: an expectation with no command before it")
            _expect(found[-1].expect, line.strip().removeprefix(EXPECT.strip()).strip(), number)
            continue
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        pending.append(line)
        text = "\n".join(pending)
        if not line.endswith("\\") and _complete(text):
            found.append(Command(start, text))
            pending = []
    if pending:
        raise ReadmeError(f"README.md:{start}: this command never ends (bash -n refuses it)")
    return found


def _complete(text: str) -> bool:
    """bash's own parser decides; a here-document still open is a warning, not an error."""
    checked = subprocess.run(["bash", "-n"], input=text + "\n", capture_output=True, text=True)
    return checked.returncode == 0 and not checked.stderr.strip()


def _expect(expect: Expectation, text: str, number: int) -> None:
    if match := re.fullmatch(r"exit (\d+)", text):
        expect.exit_code = int(match.group(1))
        return
    if match := re.fullmatch(r"(\d{3})(?:\s+(.*))?", text):
        expect.status = int(match.group(1))
        text = (match.group(2) or "").strip()
        if not text:
            return
    if text[:1] in "{[":
        try:
            expect.json_docs.append(json.loads(text))
        except ValueError as error:
            raise ReadmeError(f"README.md:{number}: expectation is not JSON: {error}") from None
        return
    expect.texts.append(text)


def contains(expected: Any, actual: Any) -> bool:
    """Whether `actual` holds `expected` in the sense of the module docstring."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if expected and expected[-1] == ELLIPSIS:
            head = expected[:-1]
            return len(actual) >= len(head) and all(map(contains, head, actual))
        return len(actual) == len(expected) and all(map(contains, expected, actual))
    if isinstance(expected, str) and expected.endswith(ELLIPSIS):
        return isinstance(actual, str) and actual.startswith(expected[: -len(ELLIPSIS)])
    return bool(expected == actual and type(expected) is type(actual))


def script(cmds: list[Command], results: Path) -> str:
    """One bash script running `cmds` in order, each command's stdout, stderr and exit
    status into `results`/<i>.{out,err,rc}; it stops after the first unexpected status."""
    lines = ["set -o pipefail", CURL_FUNCTION]
    for index, command in enumerate(cmds):
        base = results / str(index)
        lines += [
            "{",
            command.text,
            f"}} >{base}.out 2>{base}.err",
            f"rc=$?; echo $rc >{base}.rc; [ $rc -eq {command.expect.exit_code} ] || exit 0",
        ]
    return "\n".join(lines) + "\n"


def problem(command: Command, rc: int | None, out: str, err: str) -> str | None:
    """What the command's results break of its promises; None when they keep them all."""
    expect = command.expect
    if rc is None:
        return "did not run (an earlier command stopped the session)"
    if rc != expect.exit_code:
        return f"exit status {rc}, expected {expect.exit_code}"
    statuses = [int(code) for code in STATUS_LINE.findall(err)]
    if expect.status is not None:
        if not statuses or statuses[-1] != expect.status:
            return f"HTTP status {statuses[-1] if statuses else 'none'}, expected {expect.status}"
    elif any(not 200 <= code < 300 for code in statuses):
        return f"HTTP statuses {statuses}, expected 2xx"
    for doc in expect.json_docs:
        try:
            actual = json.loads(out)
        except ValueError:
            return f"stdout is not JSON, expected one containing {json.dumps(doc)}"
        if not contains(doc, actual):
            return f"stdout does not contain {json.dumps(doc, ensure_ascii=False)}"
    shown = out + STATUS_LINE.sub("", err)
    for text in expect.texts:
        if text not in shown:
            return f"output does not contain {text!r}"
    return None
