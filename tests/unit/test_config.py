"""The settings file: named targets load, and a bad file names the field that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronwright.core import config


def test_no_file_means_nothing_named() -> None:
    assert config.load(None) == config.Config()


def test_handlers_and_channels_load_as_spec_fields(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "handlers:\n"
        "  cleanup: {http: {url: 'http://127.0.0.1:9/cleanup', method: DELETE}}\n"
        "  report: {workflow: {templateRef: {name: nightly}}}\n"
        "channels:\n"
        "  web: {url: 'http://127.0.0.1:9/inbox'}\n"
    )
    settings = config.load(path)
    assert settings.handlers["cleanup"].spec_fields()["http"]["method"] == "DELETE"
    assert settings.handlers["report"].spec_fields() == {
        "workflow": {
            "templateRef": {"kind": "WorkflowTemplate", "name": "nightly"},
            "deadlineSeconds": 3600,
        }
    }
    assert settings.channels["web"].url == "http://127.0.0.1:9/inbox"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("handlers: {x: {}}", "handlers.x: Value error, exactly one of http or workflow"),
        ("channels: {web: {url: 'ftp://x'}}", "channels.web.url"),
        ("handlers: [1, 2]", "handlers"),
        ("surprise: 1", "surprise"),
        ("handlers: {x: {http: {url: 'http://127.0.0.1:9/'}", "cannot read settings"),
        ("ssrf: {deny: ['10.96.0.1/12']}", "ssrf.deny.0: value is not a valid IPv4 or IPv6 network"),
        ("ssrf: {allow: ['not-an-address']}", "ssrf.allow.0"),
        ("ssrf: {denyPrivate: maybe}", "ssrf.denyPrivate"),
        ("ssrf: {deny_privat: true}", "ssrf.deny_privat"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as raised:
        config.load(path)
    assert fragment in str(raised.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read settings"):
        config.load(tmp_path / "absent.yaml")


def test_the_ssrf_section_defaults_to_the_built_in_denials_only(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("ssrf:\n  denyPrivate: true\n  deny: ['10.96.0.0/12', 'fd00::1']\n")
    loaded = config.load(path).ssrf
    assert loaded.deny_private is True
    assert [str(n) for n in loaded.deny] == ["10.96.0.0/12", "fd00::1/128"]
    assert loaded.allow == []
    assert config.Config().ssrf == config.SsrfSettings(deny_private=False, deny=[], allow=[])
