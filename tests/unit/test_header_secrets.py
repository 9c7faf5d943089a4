"""Who sees which header value, and what a write keeps: the pure rules of header_secrets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwright.api import header_secrets as hs
from cronwright.api.header_secrets import HIDDEN, Header

FOREIGN = {"name": "Authorization", "secretKeyRef": {"name": "hook-credentials", "key": "token"}}


def job_secret(
    labels: dict[str, str] | None = None, owners: list[str] | None = None, name: str = "j-headers"
):
    meta: dict = {"name": name, "labels": labels if labels is not None else {hs.OWNER_LABEL: "j"}}
    if owners is not None:
        meta["ownerReferences"] = [{"uid": uid} for uid in owners]
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("header", "reveal", "shown"),
    [
        (Header("Content-Type", "application/json", guarded=False), False, "application/json"),
        (Header("Content-Type", "application/json", guarded=False), True, "application/json"),
        (Header("Authorization", "Bearer own", guarded=True), True, "Bearer own"),
        (Header("Authorization", "Bearer own", guarded=True), False, HIDDEN),
        (Header("Authorization", None, guarded=True, ref=FOREIGN), True, HIDDEN),
        (Header("Authorization", None, guarded=True, ref=FOREIGN), False, HIDDEN),
    ],
)
def test_what_a_key_is_shown(header: Header, reveal: bool, shown: str) -> None:
    assert header.shown(reveal) == shown


def test_given_headers_are_guarded_by_their_name() -> None:
    headers = hs.given({"Content-Type": "a", "X-Api-Key": "b", "Cookie": "c", "Accept": "d"})
    assert [h.guarded for h in headers] == [False, True, True, False]
    assert hs.shown(headers, reveal=False) == {
        "Content-Type": "a",
        "X-Api-Key": HIDDEN,
        "Cookie": HIDDEN,
        "Accept": "d",
    }


def test_hidden_sent_back_keeps_the_header_and_a_new_value_replaces_it() -> None:
    current = [
        Header("Authorization", None, True, FOREIGN),
        Header("X-Token", "own", True),
        Header("Accept", "json", False),
    ]
    sent = {"Authorization": HIDDEN, "X-Token": "new", "X-Other": HIDDEN}
    resolved = hs.resolve(sent, current)
    assert resolved == [
        current[0],
        Header("X-Token", "new", True),
        Header("X-Other", HIDDEN, False),  # nothing to keep: the text is a value like any other
    ]
    assert hs.http_fields("j", resolved) == {
        "headers": {"X-Other": HIDDEN},
        "headersFrom": [{"name": "X-Token", "secretKeyRef": {"name": "j-headers", "key": "h0"}}, FOREIGN],
    }


def test_http_fields_put_credentials_in_the_jobs_secret() -> None:
    fields = hs.http_fields("j", hs.given({"Authorization": "Bearer x", "Accept": "json"}))
    assert fields == {
        "headers": {"Accept": "json"},
        "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "j-headers", "key": "h0"}}],
    }
    assert hs.http_fields("j", []) == {}


@pytest.mark.parametrize(
    ("secret", "uid", "ours"),
    [
        (job_secret(owners=["u1"]), "u1", True),
        (job_secret(owners=["u2"]), "u1", False),  # another object's
        (job_secret(), "u1", False),  # not (yet) owned by the job
        (job_secret(), None, True),  # written just before the job's create
        (job_secret(owners=["u1"]), None, False),
        (job_secret(labels={}, owners=["u1"]), "u1", False),  # the user's own Secret
        (job_secret(labels={hs.OWNER_LABEL: "other"}, owners=["u1"]), "u1", False),
        (job_secret(owners=["u1"], name="hook-credentials"), "u1", False),
    ],
)
def test_which_secret_the_facade_wrote(secret: dict, uid: str | None, ours: bool) -> None:
    assert hs.written_here(secret, "j", uid) is ours


names = st.text(alphabet="ABCXYZ-abcautkn", min_size=1, max_size=12)
values = st.text(min_size=0, max_size=12)
headers_st = st.lists(
    st.one_of(
        st.builds(lambda n, v: Header(n, v, hs.is_credential(n)), names, values),
        st.builds(
            lambda n: Header(n, None, True, {"name": n, "secretKeyRef": {"name": "s", "key": "k"}}),
            names,
        ),
    ),
    max_size=6,
    unique_by=lambda h: h.name,
)


@given(headers_st)
def test_a_writer_sending_back_what_it_read_changes_nothing(current: list[Header]) -> None:
    """Read-modify-write with a key that may write keeps every header as it was."""
    assert hs.resolve(hs.shown(current, reveal=True), current) == current


@given(headers_st, st.booleans())
def test_no_key_ever_sees_a_value_the_facade_did_not_read(current: list[Header], reveal: bool) -> None:
    shown = hs.shown(current, reveal)
    for header in current:
        if header.value is None or (header.guarded and not reveal):
            assert shown[header.name] == HIDDEN
        else:
            assert shown[header.name] == header.value
