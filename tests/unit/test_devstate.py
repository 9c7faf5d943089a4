"""What `cronwright dev` keeps between runs, without a cluster: the env file a second shell
sources, the ports and key files, what --reset deletes, the lock against a second run."""

from __future__ import annotations

import socket
import stat
import subprocess
from pathlib import Path

import pytest

from cronwright.cli.devstate import DevState, StateBusy, env_script, source_hint
from cronwright.core.controlplane.cluster import port_is_free, port_or_free


def test_the_env_script_exports_what_readme_commands_need_in_posix_sh(tmp_path: Path) -> None:
    odd = tmp_path / "it's a dir"  # quoting: a space and a quote in a folder name
    text = env_script([odd, Path("/opt/k8s")], Path("/x/kubeconfig"), "http://127.0.0.1:1", "cwk_a_b-c")
    script = tmp_path / "env"
    script.write_text(text)
    show = '. "$1"; printf "%s\\n" "$PATH" "$KUBECONFIG" "$CRONWRIGHT_URL" "$API_KEY"'
    shown = subprocess.run(
        ["sh", "-c", show, "sh", str(script)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert shown.stdout.splitlines() == [
        f"{odd}:/opt/k8s:/usr/bin:/bin",
        "/x/kubeconfig",
        "http://127.0.0.1:1",
        "cwk_a_b-c",
    ]


def test_the_source_hint_is_relative_below_the_working_folder(tmp_path: Path) -> None:
    assert source_hint(tmp_path / ".cronwright" / "env", tmp_path) == ". .cronwright/env"
    assert source_hint(Path("/elsewhere/state/env"), tmp_path) == ". /elsewhere/state/env"


def test_ports_and_key_are_kept_and_private_files_stay_private(tmp_path: Path) -> None:
    state = DevState(tmp_path)
    assert state.ports() == {} and state.api_key() is None and not state.kept
    state.save_ports({"api": 1234, "apiserver": 2345})
    state.save_api_key("cwk_0123456789ab_secret")
    state.write_env([tmp_path], tmp_path / "kubeconfig", "http://127.0.0.1:1234", "cwk_0123456789ab_secret")
    state.write_info({"api_key": "cwk_0123456789ab_secret", "receiver": None})
    assert DevState(tmp_path).ports() == {"api": 1234, "apiserver": 2345}
    assert DevState(tmp_path).api_key() == "cwk_0123456789ab_secret"
    for name in ("api-key", "env", "dev.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_unreadable_ports_are_forgotten_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text("{not json")
    assert DevState(tmp_path).ports() == {}
    (tmp_path / "ports.json").write_text('{"api": "x", "operator": 8080}')
    assert DevState(tmp_path).ports() == {"operator": 8080}


def test_reset_deletes_only_what_dev_keeps(tmp_path: Path) -> None:
    state = DevState(tmp_path)
    (tmp_path / "cluster" / "etcd").mkdir(parents=True)
    assert state.kept
    state.save_ports({"api": 1})
    state.save_api_key("k")
    (tmp_path / "operator.log").write_text("old run")
    (tmp_path / "notes.txt").write_text("the user's own file")
    state.reset()
    assert not state.kept and state.ports() == {} and state.api_key() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_second_run_on_the_same_state_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    with (
        DevState(tmp_path).locked(),
        pytest.raises(StateBusy, match="another `cronwright dev` is running"),
        DevState(tmp_path).locked(),
    ):
        pass
    with DevState(tmp_path).locked():  # released with the first run
        pass


def test_a_kept_port_is_taken_again_only_while_free() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_is_free(port)
        assert port_or_free(port) != port
    assert port_is_free(port)
    assert port_or_free(port) == port
    assert port_or_free(None) > 0
