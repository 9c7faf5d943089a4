"""What a real node leaves on the machine: which run directories and cgroups are stale.

Run directories and cgroup hierarchies are folders under tmp_path here (the module's BASE
and CGROUP_ROOT), so the real ones of nodes running on this machine are never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cronwright.core.controlplane import node_host


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(node_host, "BASE", tmp_path / "nodes")
    monkeypatch.setattr(node_host, "CGROUP_ROOT", tmp_path / "cgroup")
    for controller in ("cpu", "memory", "pids"):
        (tmp_path / "cgroup" / controller).mkdir(parents=True)
    return tmp_path


def test_a_registered_node_is_live_until_released(host: Path) -> None:
    instance = node_host.register()

    assert instance.id.startswith(node_host.PREFIX)
    assert node_host.clean_stale() == []
    assert instance.root.is_dir()

    node_host.release(instance)

    assert not instance.root.exists()


def test_a_run_directory_nobody_holds_is_removed_with_its_empty_cgroups(host: Path) -> None:
    live = node_host.register()
    stale = host / "nodes" / f"{node_host.PREFIX}dead0001"
    (stale / "kubelet" / "pods").mkdir(parents=True)
    (stale / "owner.lock").touch()
    for controller in ("cpu", "memory"):
        (host / "cgroup" / controller / stale.name / "kubepods" / "besteffort").mkdir(parents=True)

    removed = node_host.clean_stale()

    assert str(stale) in removed
    assert not stale.exists()
    assert not list((host / "cgroup").glob(f"*/{stale.name}"))
    assert live.root.is_dir()
    node_host.release(live)


def test_a_cgroup_tree_with_a_task_is_left_whole_whatever_its_name(host: Path) -> None:
    """No run directory claims it, but a task runs in it: it belongs to a live node (of
    another run directory, say), and even its empty children must stay."""
    tree = host / "cgroup" / "memory" / f"{node_host.PREFIX}busy0001"
    (tree / "kubepods").mkdir(parents=True)
    (tree / "cgroup.procs").write_text("4242\n")

    node_host.clean_stale()

    assert (tree / "kubepods").is_dir()


@pytest.mark.parametrize(
    ("folders", "files", "expected"),
    [
        (["cpu", "memory", "unified", "systemd"], [], ["cpu", "memory", "systemd", "unified"]),
        (["system.slice"], ["cgroup.controllers"], ["."]),
    ],
)
def test_hierarchies_are_each_v1_controller_or_the_single_v2_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folders: list[str], files: list[str], expected: list[str]
) -> None:
    for name in folders:
        (tmp_path / name).mkdir()
    for name in files:
        (tmp_path / name).touch()
    monkeypatch.setattr(node_host, "CGROUP_ROOT", tmp_path)

    found = [str(p.relative_to(tmp_path)) for p in node_host.hierarchies()]

    assert found == expected
