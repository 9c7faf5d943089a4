"""The client layer's small tables: which exception each answer becomes, which of them is
retried and after how long, and the REST path each typed reference names."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cronwright.core.kube import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    Ref,
    Retry,
    Unauthorized,
    Unavailable,
    Unreachable,
    error_for,
    refs,
)
from cronwright.core.kube.errors import unreachable_on_transport_errors


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (400, "BadRequest", BadRequest),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Expired),
        (422, "Invalid", Invalid),
        (429, "TooManyRequests", Unavailable),
        (500, "InternalError", Unavailable),
        (502, "", Unavailable),
        (503, "ServiceUnavailable", Unavailable),
        (504, "Timeout", Unavailable),
        (413, "RequestEntityTooLarge", ApiError),
    ],
)
def test_each_answer_is_its_kind_of_error(status: int, reason: str, kind: type[ApiError]) -> None:
    error = error_for(status, {"reason": reason, "message": "m"})
    assert type(error) is kind
    assert (error.status, error.reason, error.message) == (status, reason, "m")


def test_an_already_exists_is_a_conflict() -> None:
    assert isinstance(error_for(409, {"reason": "AlreadyExists"}), Conflict)


def test_a_body_that_is_not_a_status_is_the_message() -> None:
    error = error_for(502, "<html>bad gateway</html>")
    assert (error.reason, error.message) == ("", "<html>bad gateway</html>")


@pytest.mark.parametrize(
    "transport_error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout(""), httpx.RemoteProtocolError("cut")],
)
def test_no_answer_is_unreachable_hence_unavailable(transport_error: httpx.HTTPError) -> None:
    with pytest.raises(Unreachable) as raised, unreachable_on_transport_errors():
        raise transport_error
    assert isinstance(raised.value, Unavailable)
    assert raised.value.status == 0
    assert raised.value.message  # never empty, even for httpx's empty timeout messages


# -- retry policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "attempt", "again"),
    [
        (Unavailable(503, {}), 0, True),
        (Unreachable(0, {}), 3, True),
        (Unavailable(429, {}), 4, False),  # the fifth of five attempts was the last
        (Conflict(409, {}), 0, False),
        (NotFound(404, {}), 0, False),
        (Forbidden(403, {}), 0, False),
        (ValueError("not an API error"), 0, False),
    ],
)
def test_only_unavailable_is_tried_again_and_only_so_often(
    error: Exception, attempt: int, again: bool
) -> None:
    assert Retry(attempts=5).again(error, attempt) is again


@pytest.mark.parametrize(
    ("attempt", "draw", "pause"),
    [
        (0, 0.0, 0.2),
        (1, 0.0, 0.4),
        (3, 0.0, 1.6),
        (5, 0.0, 6.4),
        (6, 0.0, 8.0),  # capped
        (30, 0.0, 8.0),
        (0, 1.0, 0.1),  # jitter takes off at most half
        (6, 1.0, 4.0),
        (6, 0.5, 6.0),
    ],
)
def test_pauses_double_up_to_the_cap_less_their_jitter(attempt: int, draw: float, pause: float) -> None:
    assert Retry(attempts=10).pause(attempt, lambda: draw) == pytest.approx(pause)


def test_call_retries_unavailable_and_returns_the_answer() -> None:
    answers: list[Exception | str] = [Unavailable(503, {}), Unreachable(0, {}), "ok"]

    async def operation() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert asyncio.run(Retry(attempts=3, first=0.0).call(operation, "test")) == "ok"
    assert answers == []


@pytest.mark.parametrize(
    ("error", "calls"), [(Unavailable(503, {}), 3), (NotFound(404, {}), 1), (Conflict(409, {}), 1)]
)
def test_call_raises_what_is_not_worth_another_try(error: Exception, calls: int) -> None:
    made = 0

    async def operation() -> None:
        nonlocal made
        made += 1
        raise error

    with pytest.raises(type(error)):
        asyncio.run(Retry(attempts=3, first=0.0).call(operation, "test"))
    assert made == calls


# -- references -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        (refs.cronjobspec(), "/apis/cronwright.io/v1alpha1/cronjobspecs"),
        (refs.cronjobspec("team"), "/apis/cronwright.io/v1alpha1/namespaces/team/cronjobspecs"),
        (
            refs.cronjobspec("team", "a").status,
            "/apis/cronwright.io/v1alpha1/namespaces/team/cronjobspecs/a/status",
        ),
        (refs.cronproject("team", "p"), "/apis/cronwright.io/v1alpha1/namespaces/team/cronprojects/p"),
        (refs.secret("keys", "k"), "/api/v1/namespaces/keys/secrets/k"),
        (refs.configmap("team"), "/api/v1/namespaces/team/configmaps"),
        (refs.event("team"), "/api/v1/namespaces/team/events"),
        (refs.namespace(), "/api/v1/namespaces"),
        (refs.namespace("team"), "/api/v1/namespaces/team"),
        (refs.lease("ops").named("l"), "/apis/coordination.k8s.io/v1/namespaces/ops/leases/l"),
        (Ref("batch/v1", "jobs", "team", "j"), "/apis/batch/v1/namespaces/team/jobs/j"),
        (
            refs.validating_webhook_configuration("w"),
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/w",
        ),
    ],
)
def test_each_reference_names_its_rest_path(ref: Ref, path: str) -> None:
    assert ref.path == path
