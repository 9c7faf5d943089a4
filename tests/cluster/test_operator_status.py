"""What a user reads of a CronJobSpec — `kubectl get -o wide`, `kubectl describe`, the
status — is the newest truth: lastRun is the newest run and nothing of an older one, Last
Run shows manual runs too, and a missing Secret stops making the resource Invalid as soon
as it exists."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from cronwright.core.runs import manual_run_id
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, events, get, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver, Reply

FAR = {"cron": "0 0 1 1 *"}  # never due while a test runs: only manual runs fire


def _run(cluster: Cluster, namespace: str, name: str, value: str) -> dict[str, Any]:
    """Trigger one manual run and wait for its result; the status with that result."""
    uid = get(cluster, namespace, name)["metadata"]["uid"]
    cluster.kubectl_run(
        "annotate", "cjs", name, "-n", namespace, f"cronwright.io/trigger={value}", "--overwrite"
    )
    rid = manual_run_id(uid, value)
    return wait_for(
        lambda: (s := status(cluster, namespace, name)).get("lastRun", {}).get("id") == rid and s,
        30,
        f"the result of run {value} of {name}",
    )


def _secret(name: str, value: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {"token": base64.b64encode(value).decode()},
    }


def _valid(current: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in current["conditions"] if c["type"] == "Valid")


def test_last_run_holds_only_the_newest_runs_fields(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    """Regression: a failure after a success showed the success's responseCode and
    responseBody; a success after a failure kept the failure's error."""
    receiver.script("/flip", Reply(body=b'{"ok": true}'), Reply(delay=3), Reply(body=b'{"done": 1}'))
    apply(cluster, namespace, cronjobspec("flip", FAR, {"url": receiver.url("/flip"), "timeoutSeconds": 1}))

    first = _run(cluster, namespace, "flip", "1")
    assert first["lastRun"]["result"] == "Succeeded"
    assert first["lastRun"]["responseCode"] == 200 and first["lastRun"]["responseBody"] == {"ok": True}

    second = _run(cluster, namespace, "flip", "2")
    last = second["lastRun"]
    assert last["result"] == "Failed" and last["error"] == "timeout after 1s", last
    assert "responseCode" not in last and "responseBody" not in last, last
    assert last == second["history"][0]

    third = _run(cluster, namespace, "flip", "3")
    last = third["lastRun"]
    assert last["result"] == "Succeeded" and "error" not in last, last
    assert last["responseBody"] == {"done": 1}, "no key of the first body is left"
    assert last == third["history"][0]


def test_a_missing_secret_then_created_leaves_no_trace_in_last_run(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    headers = [{"name": "Authorization", "secretKeyRef": {"name": "later", "key": "token"}}]
    apply(
        cluster, namespace, cronjobspec("later", FAR, {"url": receiver.url("/later"), "headersFrom": headers})
    )

    failed = _run(cluster, namespace, "later", "1")
    assert failed["lastRun"]["result"] == "Failed" and failed["phase"] == "Invalid"
    assert failed["lastRun"]["error"].startswith("spec.http.headersFrom[0]: "), failed["lastRun"]
    assert failed["lastRun"] == failed["history"][0]

    apply(cluster, namespace, _secret("later", b"Bearer s3cret"))
    done = _run(cluster, namespace, "later", "2")
    assert done["lastRun"]["result"] == "Succeeded" and "error" not in done["lastRun"], done["lastRun"]
    assert done["lastRun"] == done["history"][0]
    assert done["phase"] == "Active"
    assert [r.headers["authorization"] for r in receiver.at("/later")] == ["Bearer s3cret"]


def _wide(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    """The row `kubectl get cjs -o wide` prints, by column title. kubectl pads every column
    to its widest cell (and titles such as NEXT RUN hold one space), so a cell starts
    where its title does."""
    header, row = cluster.kubectl_run("get", "cjs", name, "-n", namespace, "-o", "wide").stdout.splitlines()
    titles = [(m.group(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = [start for _, start in titles[1:]] + [None]
    cells = {title: row[start:end].strip() for (title, start), end in zip(titles, ends, strict=True)}
    assert cells["NAME"] == name, (header, row)
    return cells


def test_wide_listing_shows_the_last_run_of_a_manual_trigger(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("hand", FAR, {"url": receiver.url("/hand")}))
    wait_for(lambda: status(cluster, namespace, "hand").get("phase") == "Active", 15, "hand Active")
    assert _wide(cluster, namespace, "hand")["LAST RUN"] == "", "no run yet"

    done = _run(cluster, namespace, "hand", "now")
    row = _wide(cluster, namespace, "hand")
    assert row["LAST RESULT"] == "Succeeded"
    assert row["LAST RUN"] == done["lastRun"]["scheduledTime"], row


def test_phase_is_valid_again_when_the_missing_secret_appears_without_a_run(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    headers = [{"name": "Authorization", "secretKeyRef": {"name": "hook", "key": "token"}}]
    apply(
        cluster, namespace, cronjobspec("wait", FAR, {"url": receiver.url("/wait"), "headersFrom": headers})
    )
    failed = _run(cluster, namespace, "wait", "1")
    assert failed["phase"] == "Invalid" and _valid(failed)["status"] == "False"
    assert _valid(failed)["message"].startswith("spec.http.headersFrom[0]: "), _valid(failed)

    apply(cluster, namespace, _secret("hook", b"Bearer s3cret"))
    fixed = wait_for(
        lambda: (s := status(cluster, namespace, "wait")).get("phase") != "Invalid" and s,
        30,
        "the phase re-judged after the Secret appeared",
    )
    assert fixed["phase"] == "Active" and _valid(fixed)["status"] == "True", fixed["conditions"]
    assert fixed["history"] == failed["history"], "no run was needed"
    assert receiver.at("/wait") == []
    found = wait_for(
        lambda: [e for e in events(cluster, namespace, "wait") if e["reason"] == "SecretFound"],
        10,
        "a SecretFound Event",
    )
    assert found[0]["type"] == "Normal" and found[0]["message"].startswith("spec.http.headersFrom[0]: ")
    assert json.dumps(found).count("s3cret") == 0, "the value never reaches an Event"
