"""Pinned tool versions read from the tools/ Go modules."""

from __future__ import annotations

import pytest

from cronwright.core.controlplane.binaries import pinned_promtool_version, prometheus_release


@pytest.mark.parametrize(
    ("tag", "release"), [("v0.316.0", "3.16.0"), ("v0.300.1", "3.0.1"), ("v0.55.1", "2.55.1")]
)
def test_prometheus_module_tags_name_releases(tag: str, release: str) -> None:
    assert prometheus_release(tag) == release


def test_promtool_is_pinned_in_its_own_module() -> None:
    assert pinned_promtool_version() == "v0.316.0"
