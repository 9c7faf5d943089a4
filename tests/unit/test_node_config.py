"""The real node's configuration: nothing points outside its run directory or this machine."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cronwright.core.controlplane import node_config as config
from cronwright.core.controlplane.node_init import overlay_options

LAYOUT = config.Layout(Path("/tmp/cronwright-node/cwnode-test"))
BINARY = Path("/cache/bin")
# the only absolute paths outside the run directory a component may be given: binaries it
# executes, read-only
EXECUTED = ("/usr/lib/cni", "/usr/sbin/runc", str(BINARY))


def _flag_values(flags: list[str]) -> dict[str, str]:
    """--name=value flags as pflag reads them: the last occurrence wins."""
    values: dict[str, str] = {}
    for flag in flags[1:]:
        name, _, value = flag.partition("=")
        values[name] = value
    return values


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize(
    ("extra", "expiration", "extend"),
    [
        (config.DEFAULT_APISERVER_FLAGS, "1h", "false"),
        ((*config.DEFAULT_APISERVER_FLAGS, "--service-account-max-token-expiration=2h"), "2h", "false"),
        ((), None, None),
    ],
)
def test_apiserver_flags_given_by_the_caller_come_last_and_win(
    extra: tuple[str, ...], expiration: str | None, extend: str | None
) -> None:
    values = _flag_values(config.apiserver_flags(BINARY, LAYOUT, extra))

    assert values.get("--service-account-max-token-expiration") == expiration
    assert values.get("--service-account-extend-token-expiration") == extend
    assert values["--kubelet-preferred-address-types"] == "InternalIP"


def test_every_registry_resolves_to_the_closed_local_port_only() -> None:
    hosts = tomllib.loads(config.registry_hosts_toml())

    assert hosts["server"] == config.CLOSED_REGISTRY == "http://127.0.0.1:1"
    assert list(hosts["host"]) == [config.CLOSED_REGISTRY]
    assert "_default" in config.REGISTRY_HOSTS  # every name without a folder of its own


def test_containerd_runs_from_the_run_directory_with_the_local_sandbox_image() -> None:
    document = tomllib.loads(config.containerd_config(LAYOUT, Path("/usr/sbin/runc")))
    images = document["plugins"]["io.containerd.cri.v1.images"]
    runtime = document["plugins"]["io.containerd.cri.v1.runtime"]

    assert images["registry"]["config_path"] == str(LAYOUT.registry_hosts)
    assert document["plugins"]["io.containerd.transfer.v1.local"]["config_path"] == str(LAYOUT.registry_hosts)
    assert images["pinned_images"]["sandbox"] == config.SANDBOX_IMAGE
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["netns_mounts_under_state_dir"] is True
    assert document["plugins"]["io.containerd.server.v1.grpc"]["address"] == str(LAYOUT.containerd_socket)
    assert document["imports"] == []


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("containerd", tomllib.loads(config.containerd_config(LAYOUT, Path("/usr/sbin/runc")))),
        ("kubelet config", config.kubelet_config(LAYOUT, "cwnode-test")),
        ("kube-proxy config", config.kube_proxy_config(LAYOUT)),
        ("CNI", json.loads(config.cni_conflist(LAYOUT))),
        ("etcd", config.etcd_flags(BINARY, LAYOUT)),
        ("kube-apiserver", config.apiserver_flags(BINARY, LAYOUT)),
        ("kube-apiserver audit", config.apiserver_flags(BINARY, LAYOUT, config.audit_flags(LAYOUT))),
        ("kube-controller-manager", config.controller_manager_flags(BINARY, LAYOUT)),
        ("kube-scheduler", config.scheduler_flags(BINARY, LAYOUT)),
        ("kubelet", config.kubelet_flags(BINARY, LAYOUT)),
    ],
)
def test_no_component_is_given_a_path_outside_the_run_directory(name: str, document: Any) -> None:
    paths = []
    for text in _strings(document):
        for word in text.replace("=", " ").replace("unix://", " ").split():
            if word.startswith("/") and not word.startswith("/" + "cwnode-"):
                paths.append(word.strip("'\""))

    outside = [p for p in paths if not p.startswith(f"{LAYOUT.root}/") and p not in EXECUTED]

    assert outside == [], f"{name} writes outside the run directory"


def test_kubelet_has_its_own_cgroup_root_and_no_resolver_of_this_machine() -> None:
    kubelet = config.kubelet_config(LAYOUT, "cwnode-test")

    assert kubelet["cgroupRoot"] == "/cwnode-test"
    assert kubelet["resolvConf"] == ""
    assert kubelet["failCgroupV1"] is False
    assert kubelet["address"] == config.NODE_IP


def test_pods_are_not_masqueraded_and_their_addresses_are_kept_in_the_run_directory() -> None:
    bridge = json.loads(config.cni_conflist(LAYOUT))["plugins"][0]

    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["dataDir"].startswith(f"{LAYOUT.root}/")
    assert bridge["ipam"]["ranges"] == [[{"subnet": config.POD_CIDR}]]


@pytest.mark.parametrize("lower", config.OVERLAID_HOST_DIRS)
def test_each_overlaid_host_directory_writes_into_the_run_directory(lower: str) -> None:
    options, upper, work = overlay_options(lower, LAYOUT)

    assert options == f"lowerdir={lower},upperdir={upper},workdir={work}"
    assert upper.is_relative_to(LAYOUT.overlays)
    assert work.parent == upper.parent
