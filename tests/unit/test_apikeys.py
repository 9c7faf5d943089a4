"""API keys and the per-key rate limiter, without a cluster: formats, hashing, manifests,
the key store's caching against a fake API server, and token buckets on a fake clock."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwright.api.apikeys import (
    KEY_LABEL,
    KEY_PREFIX,
    ApiKey,
    KeyStore,
    hash_key,
    key_secret,
    new_key,
    parse_key,
)
from cronwright.api.ratelimit import RateLimiter
from cronwright.core.kube import ApiError, NotFound, Ref, Unavailable

URLSAFE = string.ascii_letters + string.digits + "-_"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- key format -------------------------------------------------------------------------


def test_new_key_format_and_round_trip() -> None:
    plaintext, key_id = new_key()
    assert re.fullmatch(r"cwk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", plaintext)
    assert plaintext.startswith(f"{KEY_PREFIX}{key_id}_")
    assert parse_key(plaintext) == key_id


def test_new_keys_are_unique() -> None:
    keys = [new_key() for _ in range(200)]
    assert len({k for k, _ in keys}) == len({i for _, i in keys}) == 200


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cwk_",
        "cwk_0123456789ab_" + "A" * 42,
        "cwk_0123456789ab_" + "A" * 44,
        "cwk_0123456789AB_" + "A" * 43,
        "cwk_0123456789a_" + "A" * 44,
        "cwx_0123456789ab_" + "A" * 43,
        "cwk_0123456789ab-" + "A" * 43,
        "cwk_0123456789ab_" + "A" * 42 + "=",
        "cwk_0123456789ab_" + "A" * 43 + "\n",
        " cwk_0123456789ab_" + "A" * 43,
        "Bearer cwk_0123456789ab_" + "A" * 43,
    ],
)
def test_parse_key_rejects_malformed(text: str) -> None:
    assert parse_key(text) is None


def _well_formed(text: str) -> bool:
    head, body = text[:17], text[17:]
    return (
        len(text) == 60
        and head.startswith("cwk_")
        and all(c in "0123456789abcdef" for c in head[4:16])
        and head[16] == "_"
        and all(c in URLSAFE for c in body)
    )


@given(st.text())
def test_random_text_parses_only_when_well_formed(text: str) -> None:
    assert (parse_key(text) is not None) == _well_formed(text)


@given(
    st.text(alphabet="0123456789abcdef", min_size=12, max_size=12),
    st.text(alphabet=URLSAFE, min_size=43, max_size=43),
)
def test_every_well_formed_key_parses(key_id: str, secret: str) -> None:
    assert parse_key(f"cwk_{key_id}_{secret}") == key_id


@given(st.data())
def test_one_character_edits_of_a_key_parse_only_when_still_well_formed(data: st.DataObject) -> None:
    plaintext, _ = new_key()
    at = data.draw(st.integers(0, len(plaintext) - 1))
    char = data.draw(st.characters())
    edit = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    candidate = {
        "replace": plaintext[:at] + char + plaintext[at + 1 :],
        "insert": plaintext[:at] + char + plaintext[at:],
        "delete": plaintext[:at] + plaintext[at + 1 :],
    }[edit]
    assert (parse_key(candidate) is not None) == _well_formed(candidate)


def test_hash_is_deterministic_and_not_the_key() -> None:
    plaintext, _ = new_key()
    digest = hash_key(plaintext)
    assert digest == hash_key(plaintext)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert plaintext not in digest
    assert digest != hash_key(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))


# --- the Secret manifest ----------------------------------------------------------------


def test_key_secret_carries_no_plaintext() -> None:
    plaintext, key_id = new_key()
    secret_part = plaintext.removeprefix(f"cwk_{key_id}_")
    manifest = key_secret(
        key_id,
        plaintext,
        "tenant-a",
        ["write", "read"],
        keys_namespace="cronwright-system",
        rate_per_second=2.5,
        rate_burst=7,
        description="ci pipeline",
    )
    serialized = json.dumps(manifest)
    assert secret_part not in serialized
    assert secret_part[:16] not in serialized
    assert plaintext not in serialized
    assert manifest["metadata"] == {
        "name": f"cronwright-apikey-{key_id}",
        "namespace": "cronwright-system",
        "labels": {KEY_LABEL: "true", "app.kubernetes.io/part-of": "cronwright"},
    }
    data = manifest["stringData"]
    assert data["sha256"] == hash_key(plaintext)
    assert data["namespace"] == "tenant-a"
    assert data["scopes"] == "read,write"
    assert float(data["rateLimitPerSecond"]) == 2.5
    assert data["rateLimitBurst"] == "7"
    assert data["description"] == "ci pipeline"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["createdAt"])


def test_key_secret_leaves_out_unset_options() -> None:
    plaintext, key_id = new_key()
    data = key_secret(key_id, plaintext, "t", ["read"], keys_namespace="k")["stringData"]
    assert set(data) == {"sha256", "namespace", "scopes", "createdAt"}


@pytest.mark.parametrize(
    ("scopes", "kw"),
    [
        ([], {}),
        (["read,write"], {}),
        ([""], {}),
        (["read "], {}),
        (["read"], {"rate_per_second": 0}),
        (["read"], {"rate_per_second": float("inf")}),
        (["read"], {"rate_burst": 0}),
    ],
)
def test_key_secret_rejects_what_would_not_round_trip(scopes: list[str], kw: dict[str, Any]) -> None:
    plaintext, key_id = new_key()
    with pytest.raises(ValueError):
        key_secret(key_id, plaintext, "t", scopes, keys_namespace="k", **kw)


def test_key_secret_refuses_a_key_of_another_id() -> None:
    plaintext, _ = new_key()
    _, other_id = new_key()
    with pytest.raises(ValueError):
        key_secret(other_id, plaintext, "t", ["read"], keys_namespace="k")


# --- scopes -----------------------------------------------------------------------------


def _key(*scopes: str) -> ApiKey:
    return ApiKey("0123456789ab", "t", frozenset(scopes), None, None)


def test_allows_exact_scopes_only() -> None:
    key = _key("write", "read:jobs")
    assert key.allows("write")
    assert key.allows("read:jobs")
    assert not key.allows("read")
    assert not key.allows("write:jobs")
    assert not key.allows("read:projects")


def test_star_allows_everything() -> None:
    key = _key("*")
    for scope in ("read", "write", "read:projects", "write:jobs", "anything"):
        assert key.allows(scope)


def test_no_scopes_allow_nothing() -> None:
    assert not _key().allows("read")


# --- the key store against a fake API server --------------------------------------------


class FakeKube:
    """Answers GETs of Secrets from a dict and counts them; an optional gate holds GETs."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.gets = 0
        self.gate: asyncio.Event | None = None
        self.fail: ApiError | None = None

    def add(self, plaintext: str, key_id: str, scopes: list[str], **kw: Any) -> None:
        manifest = key_secret(key_id, plaintext, "tenant", scopes, keys_namespace="keys", **kw)
        data = {k: base64.b64encode(v.encode()).decode() for k, v in manifest.pop("stringData").items()}
        self.secrets[manifest["metadata"]["name"]] = {**manifest, "data": data}

    async def get(self, ref: Ref, params: dict[str, Any] | None = None) -> Any:
        self.gets += 1
        if self.gate:
            await self.gate.wait()
        if self.fail:
            raise self.fail
        assert (ref.api_version, ref.plural, ref.namespace) == ("v1", "secrets", "keys"), ref
        secret = self.secrets.get(ref.name or "")
        if secret is None:
            raise NotFound(404, {"reason": "NotFound", "message": "not found"})
        return secret


def _store(kube: FakeKube, clock: FakeClock, **kw: Any) -> KeyStore:
    return KeyStore(kube, "keys", ttl=5.0, clock=clock, **kw)  # type: ignore[arg-type]


def test_store_authenticates_and_reads_overrides() -> None:
    kube, clock = FakeKube(), FakeClock()
    plaintext, key_id = new_key()
    kube.add(plaintext, key_id, ["read", "write:jobs"], rate_per_second=3.0, rate_burst=9)

    key = asyncio.run(_store(kube, clock).authenticate(plaintext))

    assert key == ApiKey(key_id, "tenant", frozenset({"read", "write:jobs"}), 3.0, 9)


def test_store_rejects_without_asking_for_malformed_keys() -> None:
    kube, clock = FakeKube(), FakeClock()
    store = _store(kube, clock)

    async def go() -> list[ApiKey | None]:
        return [await store.authenticate(text) for text in (None, "", "cwk_nope", "x" * 60)]

    assert asyncio.run(go()) == [None] * 4
    assert kube.gets == 0


def test_store_rejects_a_wrong_secret_for_a_real_id() -> None:
    kube, clock = FakeKube(), FakeClock()
    plaintext, key_id = new_key()
    kube.add(plaintext, key_id, ["read"])
    forged = f"cwk_{key_id}_" + "A" * 43
    store = _store(kube, clock)

    async def go() -> tuple[ApiKey | None, ApiKey | None]:
        return await store.authenticate(forged), await store.authenticate(plaintext)

    bad, good = asyncio.run(go())
    assert bad is None and good is not None
    assert kube.gets == 1, "the second check used the cached hash"


def test_store_caches_misses_until_ttl() -> None:
    kube, clock = FakeKube(), FakeClock()
    unknown, _ = new_key()
    store = _store(kube, clock)

    async def go() -> None:
        for _ in range(50):
            assert await store.authenticate(unknown) is None
        clock.now += 5.1
        assert await store.authenticate(unknown) is None

    asyncio.run(go())
    assert kube.gets == 2


def test_store_forgets_revoked_keys_after_ttl() -> None:
    kube, clock = FakeKube(), FakeClock()
    plaintext, key_id = new_key()
    kube.add(plaintext, key_id, ["read"])
    store = _store(kube, clock)

    async def go() -> list[bool]:
        seen = [await store.authenticate(plaintext) is not None]
        kube.secrets.clear()
        clock.now += 4.9
        seen.append(await store.authenticate(plaintext) is not None)
        clock.now += 0.2
        seen.append(await store.authenticate(plaintext) is not None)
        return seen

    assert asyncio.run(go()) == [True, True, False]


def test_concurrent_checks_share_one_lookup() -> None:
    kube, clock = FakeKube(), FakeClock()
    plaintext, key_id = new_key()
    kube.add(plaintext, key_id, ["read"])
    store = _store(kube, clock)

    async def go() -> list[ApiKey | None]:
        kube.gate = asyncio.Event()
        checks = [asyncio.ensure_future(store.authenticate(plaintext)) for _ in range(20)]
        await asyncio.sleep(0.01)
        kube.gate.set()
        return await asyncio.gather(*checks)

    results = asyncio.run(go())
    assert all(r is not None and r.key_id == key_id for r in results)
    assert kube.gets == 1


def test_api_errors_propagate_and_are_not_cached() -> None:
    kube, clock = FakeKube(), FakeClock()
    plaintext, key_id = new_key()
    kube.add(plaintext, key_id, ["read"])
    store = _store(kube, clock)

    async def go() -> ApiKey | None:
        kube.fail = Unavailable(503, {"message": "unavailable"})
        with pytest.raises(ApiError):
            await store.authenticate(plaintext)
        kube.fail = None
        return await store.authenticate(plaintext)

    assert asyncio.run(go()) is not None
    assert kube.gets == 2


def test_secrets_that_are_not_keys_do_not_authenticate() -> None:
    kube, clock = FakeKube(), FakeClock()
    plaintext, key_id = new_key()
    kube.add(plaintext, key_id, ["read"])
    secret = kube.secrets[f"cronwright-apikey-{key_id}"]
    secret["metadata"]["labels"] = {}

    assert asyncio.run(_store(kube, clock).authenticate(plaintext)) is None


def test_store_cache_is_bounded() -> None:
    kube, clock = FakeKube(), FakeClock()
    store = _store(kube, clock, max_entries=10)

    async def go() -> None:
        for _ in range(100):
            await store.authenticate(new_key()[0])

    asyncio.run(go())
    assert store.size() == 10


# --- rate limiter -----------------------------------------------------------------------


def test_burst_then_refusal_with_the_right_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=2.0, burst=3, clock=clock)
    assert [limiter.check("k") for _ in range(3)] == [None] * 3
    assert limiter.check("k") == pytest.approx(0.5)
    clock.now += 0.2
    assert limiter.check("k") == pytest.approx(0.3)


def test_refill_is_gradual_and_capped_at_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("k")
    clock.now += 0.5
    assert limiter.check("k") is None
    assert limiter.check("k") is not None
    clock.now += 3600
    assert [limiter.check("k") for _ in range(3)] == [None] * 3
    assert limiter.check("k") == pytest.approx(0.5)


def test_per_key_override() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=1.0, burst=1, clock=clock)
    assert [limiter.check("vip", per_second=10.0, burst=5) for _ in range(5)] == [None] * 5
    assert limiter.check("vip", per_second=10.0, burst=5) == pytest.approx(0.1)
    assert limiter.check("plain") is None
    assert limiter.check("plain") == pytest.approx(1.0)


def test_keys_are_independent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=1.0, burst=2, clock=clock)
    assert limiter.check("a") is None
    assert limiter.check("a") is None
    assert limiter.check("a") is not None
    assert limiter.check("b") is None
    assert limiter.check("b") is None


def test_eviction_keeps_memory_bounded_and_drops_the_least_recent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=1.0, burst=1, clock=clock, max_keys=100)
    limiter.check("hot")
    for i in range(1000):
        limiter.check(f"k{i}")
        if i % 50 == 0:
            limiter.check("hot")
    assert len(limiter) == 100
    assert limiter.check("hot") is not None, "a recently used bucket survived eviction"


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(min_value=0, max_value=2, allow_nan=False)), max_size=200
    )
)
def test_never_more_than_burst_plus_rate_times_elapsed(calls: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    start = clock.now
    limiter = RateLimiter(per_second=4.0, burst=5, clock=clock)
    allowed: dict[str, int] = {}
    for key, step in calls:
        clock.now += step
        wait = limiter.check(key)
        if wait is None:
            allowed[key] = allowed.get(key, 0) + 1
        else:
            assert 0 < wait <= 0.25 + 1e-9
    for count in allowed.values():
        assert count <= 5 + 4.0 * (clock.now - start) + 1e-6


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0), (float("nan"), 1)])
def test_limiter_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_second=rate, burst=burst)
