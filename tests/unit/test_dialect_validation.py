"""The dialects' shared content checks (dialects/validation.py): one table per rule, and the
property that ties each rule to what the operator can really do with the value."""

from __future__ import annotations

import h11
import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cronwright.api.dialects import validation
from cronwright.api.dialects.validation import Problems, StrictFields
from cronwright.api.errors import ApiProblem
from cronwright.api.header_secrets import HIDDEN


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:9/hook",
        "https://example.com",
        "https://example.com/p?q=1#f",
        "http://[::1]:8080/x",
        "http://h:65535",
        "http://h:/x",
        "https://bücher.example/",
        "http://user:pass@h/x",
    ],
)
def test_urls_that_are_accepted(value: str) -> None:
    assert validation.url(value) == []


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("", "absolute"),
        ("ftp://h/x", "absolute"),
        ("HTTP://h/x", "absolute"),  # the CRD's pattern is case-sensitive
        ("//h/x", "absolute"),
        ("mailto:a@b", "absolute"),
        ("http://", "absolute"),
        ("http:///x", "absolute"),
        ("http://:80/x", "host"),
        ("http://user@/x", "host"),
        ("http://h:0/", "Port"),
        ("http://h:99999/", "Port"),
        ("http://h:port/", "valid URL"),
        ("http://[::1/", "valid URL"),
        ("http://\u0083/", "valid URL"),  # no IDNA form: httpx cannot send it
        ("http://h/ x", "spaces"),
        ("http://h/x\n", "spaces"),
        ("http://h/\x00", "control"),
        ("http://h/\x7f", "control"),
        ("http://h/" + "x" * 2048, "2048"),
    ],
)
def test_urls_that_are_refused_say_why(value: str, word: str) -> None:
    problems = validation.url(value)
    assert len(problems) == 1 and word in problems[0], problems


@given(st.text(max_size=40).map(lambda rest: "http://" + rest) | st.text(max_size=40))
def test_an_accepted_url_is_one_the_operators_client_can_request(value: str) -> None:
    if validation.url(value) == []:
        request = httpx.Request("POST", value)
        assert request.url.host and request.url.scheme in ("http", "https")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Team": "a", "Authorization": "Bearer t", "Accept": "application/json"},
        {"X-Empty": ""},
        {"X-Inner-Spaces": "a b  c"},
        {"Token": HIDDEN},  # sent back as read: keeps the stored value
        {"!#$%&'*+-.^_`|~09azAZ": "x"},
        {"X-Long": "v" * (8 * 1024 - 6)},
        {f"X-{i}": "v" for i in range(64)},
        {f"X-Token-{i}": "v" for i in range(32)},
    ],
)
def test_headers_that_are_accepted(headers: dict[str, str]) -> None:
    assert validation.headers(headers) == []


@pytest.mark.parametrize(
    ("headers", "word"),
    [
        ({"Bad Name": "x"}, "Invalid header name"),
        ({"Bad:Name": "x"}, "Invalid header name"),
        ({"": "x"}, "Invalid header name"),
        ({"Ünicode": "x"}, "Invalid header name"),
        ({"0\n": "v"}, "Invalid header name"),  # `re.match` lets `$` match before a final newline
        ({"X-A\r": "v"}, "Invalid header name"),
        ({"X-A\r\n": "v"}, "Invalid header name"),
        ({"X" * 257: "x"}, "Invalid header name"),
        ({"X-A": "1", "x-a": "2"}, "twice"),
        ({"X-Split": "a\r\nX-Injected: b"}, "Invalid value"),
        ({"X-Nul": "a\x00"}, "Invalid value"),
        ({"X-A": "v\n"}, "Invalid value"),
        ({"X-A": "v\r"}, "Invalid value"),
        ({"X-A": "v\r\n"}, "Invalid value"),
        ({"X-A": "\n"}, "Invalid value"),
        ({"X-Tab": "a\tb"}, "Invalid value"),
        ({"X-Del": "a\x7f"}, "Invalid value"),
        ({"X-Accent": "café"}, "Invalid value"),
        ({"X-Lead": " a"}, "Invalid value"),
        ({"X-Trail": "a "}, "Invalid value"),
        ({"X-Long": "v" * (8 * 1024 - 5)}, "too long"),
        ({f"X-{i}": "v" for i in range(65)}, "At most 64"),
        ({f"X-Token-{i}": "v" for i in range(33)}, "credential"),
    ],
)
def test_headers_that_are_refused_say_why(headers: dict[str, str], word: str) -> None:
    problems = validation.headers(headers)
    assert len(problems) == 1 and word in problems[0], problems


ASCII = st.characters(codec="ascii")


@given(
    st.dictionaries(st.text(ASCII, max_size=8), st.text(ASCII, max_size=8) | st.text(max_size=8), max_size=4)
)
@example({"0\n": "v"})
@example({"X-A": "v\n"})
def test_accepted_headers_are_ones_the_operators_client_can_send(headers: dict[str, str]) -> None:
    if validation.headers(headers) == []:
        raw = httpx.Headers(headers).raw
        h11.Request(method="POST", target="/", headers=[(b"Host", b"127.0.0.1"), *raw])


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "0 9 * * 1-5"}, {}),
        ({"cron": "@daily", "time_zone": "Europe/Berlin"}, {}),
        ({"frequency": "daily", "time": "09:00", "time_zone": "America/New_York"}, {}),
        ({"cron": "61 * * * *"}, {"when": ["'61 * * * *': minute value '61' is not in 0-59"]}),
        ({"cron": ""}, {"when": ["String should have at least 1 character"]}),
        ({"cron": "0 9 * * *\n"}, {"when": ["Must not contain control characters"]}),
        (
            {"cron": "* * * * *", "time_zone": "Mars/Olympus"},
            {"zone": ["unknown IANA time zone 'Mars/Olympus'"]},
        ),
        ({"cron": "* * * * *", "time_zone": ""}, {"zone": ["String should have at least 1 character"]}),
        ({"every": "0s"}, {"other": ["'0s' is shorter than the 1s minimum"]}),
    ],
)
def test_schedule_problems_come_from_core_under_the_dialects_field_names(
    schedule: dict[str, str], expected: dict[str, list[str]]
) -> None:
    assert validation.schedule(schedule, {"cron": "when", "time_zone": "zone"}, "other") == expected


def test_a_bad_zone_and_a_bad_cron_expression_are_both_reported() -> None:
    found = validation.schedule({"cron": "nope", "time_zone": "Nowhere/Else"}, {"cron": "c"}, "z")
    assert set(found) == {"c", "z"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Daily report", []),
        ("Zürich ☀", []),
        ("", ["Must not be blank"]),
        ("  ", ["Must not be blank"]),
        ("a\tb", ["Must not contain control characters"]),
        ("\n", ["Must not be blank", "Must not contain control characters"]),
    ],
)
def test_display_names(value: str, expected: list[str]) -> None:
    assert validation.display_name(value) == expected


def test_body_size_is_capped_as_json() -> None:
    assert validation.body(None) == [] and validation.body({"k": "v" * 60_000}) == []
    assert validation.body({"k": "v" * 70_000}) == ["Too large: at most 64 KiB of JSON"]


def test_nulls_name_each_field_that_may_not_be_cleared() -> None:
    changes = {"name": None, "body": None, "url": "http://h", "timeout": None}
    assert validation.nulls(changes, nullable=("body",)) == {
        "name": ["Cannot be null"],
        "timeout": ["Cannot be null"],
    }


def test_problems_collect_per_field_and_refuse_with_a_400() -> None:
    problems = Problems()
    problems.add("url")  # no messages: nothing recorded
    problems.refuse()
    problems.add("url", "a")
    problems.merge({"url": ["b"], "name": ["c"]})
    problems.fill({"url": ["not again"], "body": ["d"]})
    assert problems == {"url": ["a", "b"], "name": ["c"], "body": ["d"]}
    with pytest.raises(ApiProblem) as refused:
        problems.refuse("Invalid schedule data")
    assert (refused.value.status, refused.value.message) == (400, "Invalid schedule data")
    assert refused.value.details == problems


class _Example(StrictFields):
    count: int


def test_parsed_names_unknown_and_wrong_fields() -> None:
    assert validation.parsed(_Example, {"count": 3}).count == 3
    with pytest.raises(ApiProblem) as refused:
        validation.parsed(_Example, {"count": "many", "color": "blue"})
    assert refused.value.details == {
        "count": ["Input should be a valid integer, unable to parse string as an integer"],
        "color": ["Unknown field"],
    }
