"""The webhook's decisions without a cluster: what is judged, which Secrets are named, and
how the operator's flags become the webhook server and its client configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from cronwright.cli import main as cli
from cronwright.core.models import CronJobSpecSpec
from cronwright.operator.admission import (
    WebhookOptions,
    client_config,
    judge,
    refusal,
    secret_references,
    webhook_configuration,
)
from cronwright.operator.webhook_tls import self_signed

GOOD = {"schedule": {"cron": "0 9 * * 1-5"}, "http": {"url": "http://127.0.0.1:9/"}}
BAD = {"schedule": {"cron": "0 9 * * 8"}, "http": {"url": "http://127.0.0.1:9/"}}


def test_a_new_or_changed_spec_is_judged_by_the_operators_own_rules() -> None:
    assert isinstance(judge(GOOD, None), CronJobSpecSpec)
    problems = judge(BAD, None)
    assert isinstance(problems, list) and [p.field for p in problems] == ["spec.schedule.cron"]
    assert isinstance(judge(BAD, GOOD), list)


def test_every_bad_field_is_named_in_one_refusal() -> None:
    spec = {
        "schedule": {"cron": "61 * * * *", "timeZone": "Mars/Olympus"},
        "http": {"url": "http://127.0.0.1:9/", "method": "FETCH"},
    }
    problems = judge(spec, None)
    assert isinstance(problems, list)
    assert [p.field for p in problems] == ["spec.http.method", "spec.schedule.timeZone", "spec.schedule.cron"]
    message = refusal(problems)
    assert "spec.schedule.timeZone: unknown IANA time zone 'Mars/Olympus'" in message
    assert "spec.schedule.cron: '61 * * * *': minute value '61' is not in 0-59" in message
    assert message.startswith("spec.http.method: ")


def test_an_update_that_keeps_a_stored_spec_is_not_judged() -> None:
    """A spec stored before the webhook existed must not block a label or finalizer change."""
    assert judge(BAD, BAD) is None
    assert judge(None, None) is None


def test_secret_references_name_the_field_that_holds_them() -> None:
    spec = CronJobSpecSpec.model_validate(
        {
            **GOOD,
            "http": {
                "url": "http://127.0.0.1:9/",
                "headersFrom": [
                    {"name": "A", "secretKeyRef": {"name": "s1", "key": "a"}},
                    {"name": "B", "secretKeyRef": {"name": "s2", "key": "b"}},
                ],
                "signing": {"secretKeyRef": {"name": "s1", "key": "sign"}},
            },
        }
    )
    assert [(field, ref.name, ref.key) for field, ref in secret_references(spec)] == [
        ("spec.http.headersFrom[0].secretKeyRef", "s1", "a"),
        ("spec.http.headersFrom[1].secretKeyRef", "s2", "b"),
        ("spec.http.signing.secretKeyRef", "s1", "sign"),
    ]


def _options(*flags: str) -> WebhookOptions:
    args = cli.parser().parse_args(["operator", *flags])
    return cli.webhook_options(args)


def test_the_webhook_is_off_and_ignores_failures_unless_told_otherwise() -> None:
    assert _options() == WebhookOptions(port=0, host="127.0.0.1", failure_policy="Ignore")


def test_webhook_flags() -> None:
    options = _options(
        "--webhook-port=9443",
        "--webhook-host=0.0.0.0",
        "--webhook-cert-dir=/certs",
        "--webhook-configuration=cronwright",
        "--webhook-service=cronwright-system/cronwright-webhook",
        "--webhook-failure-policy=Fail",
    )
    assert options == WebhookOptions(
        port=9443,
        host="0.0.0.0",
        cert_dir=Path("/certs"),
        configuration="cronwright",
        service=("cronwright-system", "cronwright-webhook"),
        failure_policy="Fail",
    )


@pytest.mark.parametrize("value", ["cronwright-webhook", "/name", "ns/", "a/b/c"])
def test_a_service_must_be_namespace_slash_name(value: str) -> None:
    with pytest.raises(ValueError, match="--webhook-service: expected NAMESPACE/NAME"):
        _options(f"--webhook-service={value}")


def test_in_a_cluster_the_api_server_calls_the_service_with_the_handler_path() -> None:
    options = WebhookOptions(port=9443, service=("cronwright-system", "cronwright-webhook"))
    assert client_config({"url": "https://127.0.0.1:9443", "caBundle": "Q0E="}, options) == {
        "caBundle": "Q0E=",
        "service": {
            "namespace": "cronwright-system",
            "name": "cronwright-webhook",
            "port": 443,
            "path": "/validate.cronwright.io",
        },
    }


def test_outside_a_cluster_it_calls_the_url_kopf_serves() -> None:
    served = {"url": "https://127.0.0.1:9443", "caBundle": "Q0E="}
    assert client_config(served, WebhookOptions(port=9443)) == {
        "caBundle": "Q0E=",
        "url": "https://127.0.0.1:9443/validate.cronwright.io",
    }


def test_the_configuration_has_one_webhook_for_cronjobspec_writes_with_the_chosen_policy() -> None:
    config = webhook_configuration("cronwright", {"url": "https://127.0.0.1:1/x"}, "Fail")
    assert config["metadata"]["name"] == "cronwright"
    (hook,) = config["webhooks"]
    assert hook["name"] == "validate.cronwright.io"
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert hook["rules"][0]["resources"] == ["cronjobspecs"]


def test_a_generated_certificate_serves_the_host_and_the_service_names() -> None:
    made = self_signed("127.0.0.1", ("cronwright-system", "hook"))
    cert = x509.load_pem_x509_certificate(made["tls.crt"])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        "hook",
        "hook.cronwright-system",
        "hook.cronwright-system.svc",
        "hook.cronwright-system.svc.cluster.local",
    }
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca = x509.load_pem_x509_certificate(made["ca.crt"])
    cert.verify_directly_issued_by(ca)
