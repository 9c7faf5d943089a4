"""The images a real node runs: what the chart and the node fixture rely on, read from the
built images themselves (`buildah inspect`, the docker-archives, commands run in them)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cronwright.core.controlplane.buildah import Buildah
from cronwright.core.controlplane.images import Image, Images, ensure_images, pinned_versions
from tests.images.conftest import run_in_image

# The first test builds whatever is not cached (minutes on a cold machine, when pytest runs
# without `make images` first); the default 300 s timeout would cut that build off.
pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
CHART_VALUES = yaml.safe_load((ROOT / "charts" / "cronwright" / "values.yaml").read_text())


def _docker_config(store: Buildah, ref: str) -> dict[str, Any]:
    return store.inspect(ref)["Docker"]["config"]


def _archive_manifest(image: Image) -> tuple[list[str], dict[str, Any]]:
    """The tags and the image config inside a docker-archive, as `ctr images import` reads them."""
    with tarfile.open(image.archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert len(manifest) == 1, manifest
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return manifest[0]["RepoTags"], config


def test_cronwright_image_runs_as_the_charts_numeric_non_root_user(
    built_images: Images, store: Buildah, in_cronwright: Callable[..., str]
) -> None:
    user = _docker_config(store, built_images.cronwright.ref)["User"]
    pod = CHART_VALUES["podSecurityContext"]
    assert user == f"{pod['runAsUser']}:{pod['runAsGroup']}", "numeric, so runAsNonRoot can verify it"
    uid = in_cronwright("python", "-c", "import os; print(os.getuid())")
    assert int(uid) == pod["runAsUser"]


def test_cronwright_image_entrypoint_takes_the_charts_arguments(
    built_images: Images, store: Buildah, in_cronwright: Callable[..., str]
) -> None:
    """The chart sets only `args` (operator ... / api ...): the entrypoint must be cronwright."""
    config = _docker_config(store, built_images.cronwright.ref)
    assert config["Entrypoint"] == ["cronwright"]
    assert config["Cmd"][0] == "operator"
    # The entrypoint really is the product: its CRD output is the one the chart ships.
    crd = in_cronwright("cronwright", "crd", "--kind", "CronJobSpec")
    assert crd == (ROOT / "charts" / "cronwright" / "crds" / "cronjobspecs.cronwright.io.yaml").read_text()


def test_cronwright_image_keeps_its_healthcheck(
    built_images: Images, store: Buildah, in_cronwright: Callable[..., str]
) -> None:
    """Docker format: the OCI format would drop HEALTHCHECK silently."""
    check = _docker_config(store, built_images.cronwright.ref)["Healthcheck"]
    assert check["Test"][0] == "CMD" and check["Test"][1] == "python"
    assert any("/healthz" in part for part in check["Test"])
    # Its `python` is the virtualenv's, found through PATH on this base as on the official one.
    prefix = in_cronwright("python", "-c", "import sys; print(sys.prefix)")
    assert prefix.strip() == "/opt/cronwright"


def test_cronwright_image_writes_nothing_outside_tmp(built_images: Images, store: Buildah) -> None:
    """The chart mounts the root filesystem read-only and an emptyDir at /tmp."""
    env = dict(item.split("=", 1) for item in _docker_config(store, built_images.cronwright.ref)["Env"])
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_cronwright_image_is_built_on_the_base_given_as_build_argument(
    built_images: Images, store: Buildah
) -> None:
    """The base's layers are the image's first layers, and it is the local Debian base, not
    anything tagged under the official python name."""
    assert built_images.base.startswith("localhost/cronwright-base:")
    base_layers = store.inspect(built_images.base)["Docker"]["rootfs"]["diff_ids"]
    image_layers = store.inspect(built_images.cronwright.ref)["Docker"]["rootfs"]["diff_ids"]
    assert image_layers[: len(base_layers)] == base_layers
    assert len(image_layers) > len(base_layers)
    assert not store.has_image("docker.io/library/python:3.11.14-slim-trixie")


def test_every_archive_carries_its_reference_and_config(built_images: Images) -> None:
    """`ctr -n k8s.io images import` names each image by the archive's RepoTags."""
    expected = {
        built_images.pause.ref: {"Entrypoint": ["/pause"], "User": "65535:65535"},
        built_images.busybox.ref: {"Cmd": ["/bin/sh"]},
        built_images.cronwright.ref: {"Entrypoint": ["cronwright"], "User": "10001:10001"},
    }
    for image in built_images.for_node():
        tags, config = _archive_manifest(image)
        assert tags == [image.ref]
        wanted = expected[image.ref]
        assert {key: config["config"].get(key) for key in wanted} == wanted, image.ref


def test_pause_is_the_pinned_kubernetes_source(built_images: Images, store: Buildah) -> None:
    assert built_images.pause.ref == "localhost/pause:local"
    version = run_in_image(store, built_images.pause.ref, "/pause", "-v")
    assert version.split() == ["pause.c", f"{pinned_versions().kubernetes}-cronwright"]


def test_busybox_has_what_test_pods_use(built_images: Images, store: Buildah) -> None:
    applets = ["sh", "nc", "sleep", "echo", "cat", "date"]
    script = f"echo hello | cat; date -u +%Y >/dev/null; sleep 0; for a in {' '.join(applets)}; do"
    script += " test -x /bin/$a && echo $a; done"
    output = run_in_image(store, built_images.busybox.ref, "sh", "-c", script)
    assert output.split() == ["hello", *applets]


def test_a_cached_build_is_reused(built_images: Images, store: Buildah) -> None:
    """The same tree: the same references, archives and image ids, nothing rebuilt."""
    ids = {i.ref: store.inspect(i.ref)["FromImageID"] for i in built_images.for_node()}
    sizes = {i.ref: i.archive.stat().st_size for i in built_images.for_node()}
    again = ensure_images()
    assert again == built_images
    assert {i.ref: store.inspect(i.ref)["FromImageID"] for i in again.for_node()} == ids
    assert {i.ref: i.archive.stat().st_size for i in again.for_node()} == sizes


def test_the_cli_prints_each_reference_and_archive(built_images: Images) -> None:
    """What `make images` and `make dev-cluster` read."""
    result = subprocess.run(
        [sys.executable, "-m", "cronwright.cli", "image-build", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    printed = json.loads(result.stdout)
    assert printed == {
        "pause": {"ref": built_images.pause.ref, "archive": str(built_images.pause.archive)},
        "busybox": {"ref": built_images.busybox.ref, "archive": str(built_images.busybox.archive)},
        "cronwright": {"ref": built_images.cronwright.ref, "archive": str(built_images.cronwright.archive)},
        "base": built_images.base,
    }
