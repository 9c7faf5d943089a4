"""The command line's own checks of its flags, and the dev banner (what needs no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronwright.cli.dev import _print_running
from cronwright.cli.devstate import DevState
from cronwright.cli.main import main, parser


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("5", 5.0), ("0.25", 0.25)])
def test_key_cache_seconds_takes_a_duration(text: str, seconds: float) -> None:
    assert parser().parse_args(["api", "--key-cache-seconds", text]).key_cache_seconds == seconds


@pytest.mark.parametrize("text", ["-1", "soon", "inf", "nan"])
def test_key_cache_seconds_refuses_what_is_not_one(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["api", "--key-cache-seconds", text])
    assert exited.value.code == 2
    assert "--key-cache-seconds" in capsys.readouterr().err


def test_apikey_create_creates_a_namespace_only_when_asked() -> None:
    common = ["apikey", "create", "--namespace", "team-a"]
    assert parser().parse_args(common).create_namespace is False
    assert parser().parse_args([*common, "--create-namespace"]).create_namespace is True


def test_an_unreachable_api_server_is_one_line_naming_it(tmp_path: Path) -> None:
    """A kubeconfig pointing at a closed loopback port: one line saying the server cannot
    be reached (not "refused: 0", not a traceback)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    with pytest.raises(SystemExit) as exited:
        main(["apikey", "list", "--kubeconfig", str(kubeconfig)])
    assert str(exited.value.code).startswith("cronwright: cannot reach the API server: ")


def test_the_dev_banner_shows_where_the_dashboard_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = {
        "kubeconfig": "/k",
        "namespace": "default",
        "metrics_url": "http://127.0.0.1:2/metrics",
        "api_url": "http://127.0.0.1:3",
        "api_key": "cwk_a_b",
    }
    _print_running(DevState(tmp_path), info, "settings.yaml", echo=True)
    assert (
        "  dashboard:  http://127.0.0.1:3/ui  (sign in with the API key below)\n" in capsys.readouterr().out
    )
