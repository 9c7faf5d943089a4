"""Restarts, downtime, a second operator, bad content: no run fires twice, none is lost
silently, and one bad resource never stops the others."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cronwright.core.runs import parse_time
from cronwright.operator.sharding import shard_of
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, events, get, status, wait_for
from tests.support.receiver import Receiver
from tests.support.relay import Relay


def _duplicates(receiver: Receiver, path: str) -> list[str]:
    return [t for t, n in Counter(r.scheduled for r in receiver.at(path)).items() if n > 1]


def test_downtime_gives_one_catch_up_run_and_counts_the_rest_missed(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    operator = start_operator()
    apply(cluster, namespace, cronjobspec("m", {"every": "1s"}, {"url": receiver.url("/m")}))
    wait_for(lambda: (status(cluster, namespace, "m").get("counters") or {}).get("runs", 0) >= 2, 15, "runs")
    operator.stop()  # graceful: runs in flight finish and are recorded before it exits
    before = len(receiver.at("/m"))
    # Longer than any takeover (the test operators' 6 s shard Lease and three renewals):
    # this is downtime, not a handover, so the times missed are counted, not fired late.
    time.sleep(10)
    assert len(receiver.at("/m")) == before, "nothing fires while no operator runs"

    restarted_at = time.time()
    start_operator(instance="op-1")
    catch_up = wait_for(
        lambda: next(
            (h for h in status(cluster, namespace, "m").get("history") or [] if h["trigger"] == "catchup"),
            None,
        ),
        15,
        "a catch-up run",
    )
    assert "missed" in catch_up["error"]
    counters = status(cluster, namespace, "m")["counters"]
    assert counters["missed"] >= 3
    first_second = [r for r in receiver.at("/m") if restarted_at <= r.at < restarted_at + 1.0]
    assert len(first_second) <= 2, "one catch-up run, not a burst"
    assert _duplicates(receiver, "/m") == []


def test_a_one_shot_missed_during_downtime_fires_late_unless_past_its_deadline(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    apply(
        cluster,
        namespace,
        cronjobspec("strict", {"at": at}, {"url": receiver.url("/strict")}, startingDeadlineSeconds=2),
        cronjobspec("lenient", {"at": at}, {"url": receiver.url("/lenient")}),
    )
    time.sleep(5)  # no operator is running when `at` passes
    start_operator()
    strict = wait_for(
        lambda: (s := status(cluster, namespace, "strict")).get("phase") == "Completed" and s,
        15,
        "strict done",
    )
    assert strict["lastRun"]["result"] == "Missed"
    assert strict["counters"]["missed"] == 1 and strict["counters"]["runs"] == 0
    lenient = wait_for(
        lambda: (s := status(cluster, namespace, "lenient")).get("phase") == "Completed" and s,
        15,
        "lenient done",
    )
    assert lenient["lastRun"]["result"] == "Succeeded"
    assert receiver.at("/strict") == []
    assert len(receiver.at("/lenient")) == 1


def _scheduled(receiver: Receiver, path: str) -> list[float]:
    return sorted(parse_epoch(r.scheduled) for r in receiver.at(path))


def parse_epoch(text: str | None) -> float:
    moment = parse_time(text)
    assert moment is not None, text
    return moment.timestamp()


def _recorded(cluster: Cluster, namespace: str, name: str, result: str) -> list[float]:
    history = status(cluster, namespace, name).get("history") or []
    return sorted(parse_epoch(h["scheduledTime"]) for h in history if h["result"] == result)


def _holders(cluster: Cluster, namespace: str) -> dict[int, str]:
    """Shard number -> the instance holding its Lease."""
    leases = json.loads(cluster.kubectl_run("get", "leases", "-n", namespace, "-o", "json").stdout)
    return {
        int(lease["metadata"]["name"].rsplit("-", 1)[1]): lease["spec"].get("holderIdentity") or ""
        for lease in leases["items"]
        if lease["metadata"]["name"].startswith("cronwright-shard-")
    }


def _every_second(receiver: Receiver, names: list[str]) -> list[dict]:
    # historyLimit 100: the history shows every time of the test, Unknown ones included
    return [cronjobspec(n, {"every": "1s"}, {"url": receiver.url(f"/{n}")}, historyLimit=100) for n in names]


def _no_time_twice_and_none_absent(
    cluster: Cluster, namespace: str, receiver: Receiver, names: list[str]
) -> int:
    """Each name: no scheduled time delivered twice; between the first and the last time
    delivered, every second was either delivered or recorded Unknown. Returns how many
    were Unknown in all."""
    unknown_total = 0
    for name in names:
        delivered = _scheduled(receiver, f"/{name}")
        assert _duplicates(receiver, f"/{name}") == [], f"{name} fired a scheduled time twice"
        unknown = _recorded(cluster, namespace, name, "Unknown")
        unknown_total += len(unknown)
        covered = sorted(set(delivered) | set(unknown))
        gaps = [b - a for a, b in itertools.pairwise(covered)]
        assert max(gaps) < 1.5, f"{name}: a scheduled time is neither delivered nor recorded: {gaps}"
    return unknown_total


def test_an_abrupt_restart_records_unknown_times_and_fires_none_twice(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    operator = start_operator()
    apply(cluster, namespace, *_every_second(receiver, ["r0", "r1", "r2"]))
    wait_for(lambda: all(len(receiver.at(f"/r{i}")) >= 2 for i in range(3)), 15, "runs before the kill")
    operator.kill()  # its watermark, a few seconds ahead, stays in the shard Leases
    killed_at = time.time()
    start_operator()  # same instance id, as a restarted pod
    wait_for(
        lambda: all(_recorded(cluster, namespace, f"r{i}", "Unknown") for i in range(3)),
        60,
        "Unknown records",
    )
    for i in range(3):
        unknown = _recorded(cluster, namespace, f"r{i}", "Unknown")
        assert unknown[0] <= killed_at + 1 and unknown[-1] > killed_at, "the dead window is Unknown"
        assert status(cluster, namespace, f"r{i}")["counters"]["unknown"] == len(unknown)
        after = [t for t in _scheduled(receiver, f"/r{i}") if t > killed_at + 1]
        assert not set(after) & set(unknown), f"r{i}: an Unknown time fired after the restart"
        assert _duplicates(receiver, f"/r{i}") == [], f"r{i} fired a scheduled time twice"
    reasons = {e.get("reason") for e in events(cluster, namespace, "r0")}
    assert "RunOutcomeUnknown" in reasons


NAMES = [f"j{i}" for i in range(16)]


def test_two_operator_processes_divide_the_shards_and_never_fire_one_run_twice(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    a = start_operator(instance="op-a")
    b = start_operator(instance="op-b")
    apply(cluster, namespace, *_every_second(receiver, NAMES))
    wait_for(lambda: all(len(receiver.at(f"/{n}")) >= 6 for n in NAMES), 40, "runs from both operators")
    holders = _holders(cluster, namespace)
    assert Counter(holders.values()) == {"op-a": 16, "op-b": 16}, "each holds its fair share"
    owner = {name: holders[shard_of(get(cluster, namespace, name)["metadata"]["uid"], 32)] for name in NAMES}
    for process in (a, b):
        runs = sum(
            value for (metric, _), value in process.samples().items() if metric == "cronwright_runs_total"
        )
        assert (runs > 0) == (process.instance in owner.values()), process.instance
    _no_time_twice_and_none_absent(cluster, namespace, receiver, NAMES)


def test_sigterm_hands_the_shards_over_with_nothing_lost_or_doubled(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    start_operator(instance="op-a")
    b = start_operator(instance="op-b")
    apply(cluster, namespace, *_every_second(receiver, NAMES))
    wait_for(lambda: all(len(receiver.at(f"/{n}")) >= 4 for n in NAMES), 40, "runs before the stop")
    b.stop()
    marks = {n: len(receiver.at(f"/{n}")) for n in NAMES}
    wait_for(lambda: all(len(receiver.at(f"/{n}")) >= marks[n] + 4 for n in NAMES), 30, "runs after the stop")
    assert set(_holders(cluster, namespace).values()) == {"op-a"}
    assert _no_time_twice_and_none_absent(cluster, namespace, receiver, NAMES) == 0, (
        "a handover loses nothing"
    )


def test_kill_9_of_one_of_two_leaves_unknown_records_and_fires_none_twice(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    start_operator(instance="op-a")
    b = start_operator(instance="op-b")
    apply(cluster, namespace, *_every_second(receiver, NAMES))
    wait_for(lambda: all(len(receiver.at(f"/{n}")) >= 4 for n in NAMES), 40, "runs before the kill")
    b.kill()
    wait_for(lambda: set(_holders(cluster, namespace).values()) == {"op-a"}, 30, "op-a takes every shard")
    marks = {n: len(receiver.at(f"/{n}")) for n in NAMES}
    wait_for(lambda: all(len(receiver.at(f"/{n}")) >= marks[n] + 3 for n in NAMES), 30, "runs after takeover")
    assert _no_time_twice_and_none_absent(cluster, namespace, receiver, NAMES) > 0


def test_an_operator_that_cannot_renew_stops_firing_and_the_other_takes_over_once(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator, tmp_path: Path
) -> None:
    """op-a reaches the API server through a relay the test cuts: it could still send runs
    to the receiver, but can no longer renew its shard Leases. It must stop firing before
    op-b may take its shards (6 s Leases; firing stops 1.2 s before), and op-b must fire
    nothing twice."""
    relay = Relay.in_front_of(cluster.kubeconfig)
    names = NAMES[:4]
    try:
        a = start_operator(
            instance="op-a", kubeconfig=relay.kubeconfig(cluster.kubeconfig, tmp_path / "relayed")
        )
        apply(cluster, namespace, *_every_second(receiver, names))
        wait_for(lambda: all(len(receiver.at(f"/{n}")) >= 3 for n in names), 30, "runs from op-a")
        start_operator(instance="op-b")
        relay.cut()
        time.sleep(6 - 1.2 + 0.5)  # op-a's last renewal came before the cut
        fired = a.sample("cronwright_fire_skew_seconds_count")
        wait_for(lambda: set(_holders(cluster, namespace).values()) == {"op-b"}, 30, "op-b takes every shard")
        marks = {n: len(receiver.at(f"/{n}")) for n in names}
        wait_for(lambda: all(len(receiver.at(f"/{n}")) >= marks[n] + 3 for n in names), 30, "op-b fires")
        assert a.sample("cronwright_fire_skew_seconds_count") == fired, "op-a fired after it had to stop"
        assert a.sample("cronwright_shards_held") == 0
    finally:
        relay.stop()
    _no_time_twice_and_none_absent(cluster, namespace, receiver, names)


def test_bad_content_is_isolated_and_reported(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    start_operator()
    apply(
        cluster,
        namespace,
        cronjobspec("bad-cron", {"cron": "61 * * * *"}, {"url": receiver.url("/never")}),
        cronjobspec(
            "bad-zone",
            {"cron": "* * * * *", "timeZone": "Mars/Olympus_Mons"},
            {"url": receiver.url("/never")},
        ),
        cronjobspec(
            "no-secret",
            {"every": "1s"},
            {
                "url": receiver.url("/never"),
                "headersFrom": [
                    {"name": "Authorization", "secretKeyRef": {"name": "absent", "key": "token"}}
                ],
            },
        ),
        cronjobspec("good", {"every": "1s"}, {"url": receiver.url("/good")}),
    )
    for name, field in [
        ("bad-cron", "spec.schedule.cron"),
        ("bad-zone", "spec.schedule.timeZone"),
        ("no-secret", "spec.http.headersFrom[0]"),
    ]:
        current = wait_for(
            lambda n=name: (s := status(cluster, namespace, n)).get("phase") == "Invalid" and s,
            15,
            f"{name} Invalid",
        )
        valid = next(c for c in current["conditions"] if c["type"] == "Valid")
        assert valid["status"] == "False" and field in valid["message"], valid
        warnings = wait_for(
            lambda n=name: [e for e in events(cluster, namespace, n) if e["type"] == "Warning"],
            10,
            f"{name} event",
        )
        assert any(field in e["message"] for e in warnings)
    assert receiver.at("/never") == []
    marks = len(receiver.at("/good"))
    wait_for(lambda: len(receiver.at("/good")) >= marks + 3, 10, "the good job keeps firing")
