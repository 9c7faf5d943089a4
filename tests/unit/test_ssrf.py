"""The SSRF guard: the decision per address, and its enforcement at connect time.

The built-in list (link-local, cloud metadata, ...) is tested through the pure decision
function only, so no test ever sends a packet to such an address, even with a broken
guard. End-to-end refusals use a denied loopback address (127.0.0.2) with a listener on
it that counts connections: traffic never leaves loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from cronwright.core.config import Config
from cronwright.operator.http_executor import HttpRequestPlan, execute, make_client, make_transport
from cronwright.operator.ssrf import (
    GuardedBackend,
    GuardedTransport,
    IPAddress,
    Policy,
    SsrfRefused,
    httpx_error,
    refusal,
    refused_by_guard,
    resolve_system,
)

ip = ipaddress.ip_address
net = ipaddress.ip_network
DEFAULT = Policy()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "169.254.169.254 is link-local (cloud metadata"),
        ("169.254.170.2", "169.254.170.2 is link-local"),
        ("169.254.0.1", "is link-local"),
        ("fe80::1", "fe80::1 is link-local"),
        ("fe80::1%eth0", "is link-local"),
        ("fd00:ec2::254", "the AWS instance metadata service (IPv6)"),
        ("100.100.100.200", "the Alibaba Cloud metadata service"),
        ("168.63.129.16", "the Azure WireServer"),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved (incl. broadcast)"),
        # IPv6 forms that carry a denied IPv4 destination:
        ("::ffff:169.254.169.254", "::ffff:a9fe:a9fe is link-local (cloud metadata services"),
        ("::ffff:a9fe:a9fe", "(it embeds 169.254.169.254)"),
        ("::169.254.169.254", "(it embeds 169.254.169.254)"),
        ("64:ff9b::169.254.169.254", "(it embeds 169.254.169.254)"),
        ("2002:a9fe:a9fe::", "(it embeds 169.254.169.254)"),
        ("::ffff:0.0.0.0", "(it embeds 0.0.0.0)"),
    ],
)
def test_built_in_denials_name_the_address_and_why(address: str, reason: str) -> None:
    verdict = refusal(ip(address), DEFAULT)
    assert verdict is not None and reason in verdict


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "127.0.0.1", "::1", "10.1.2.3", "192.168.1.1"]
)
def test_public_and_private_addresses_pass_by_default(address: str) -> None:
    assert refusal(ip(address), DEFAULT) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback (it embeds 127.0.0.1)"),
        ("10.1.2.3", "private (RFC 1918)"),
        ("172.31.255.255", "private (RFC 1918)"),
        ("192.168.1.1", "private (RFC 1918)"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("fd12:3456::1", "unique local"),
    ],
)
def test_deny_private_denies_the_clusters_own_networks(address: str, reason: str) -> None:
    verdict = refusal(ip(address), Policy(deny_private=True))
    assert verdict is not None and reason in verdict
    assert refusal(ip("93.184.216.34"), Policy(deny_private=True)) is None


def test_deny_list_names_the_range_and_allow_wins_over_everything() -> None:
    service_range = Policy(deny=(net("10.96.0.0/12"),), allow=(net("10.96.0.10/32"),))
    assert refusal(ip("10.100.1.1"), service_range) == "10.100.1.1 is in the denied range 10.96.0.0/12"
    assert refusal(ip("10.96.0.10"), service_range) is None
    node_local_dns = Policy(allow=(net("169.254.20.10/32"),))
    assert refusal(ip("169.254.20.10"), node_local_dns) is None
    assert refusal(ip("::ffff:169.254.20.10"), node_local_dns) is None
    assert refusal(ip("169.254.169.254"), node_local_dns) is not None


def test_the_settings_file_section_becomes_the_policy() -> None:
    config = Config.model_validate(
        {"ssrf": {"denyPrivate": True, "deny": ["127.0.0.2", "fd00::/8"], "allow": ["10.0.0.0/24"]}}
    )
    assert Policy.from_settings(config.ssrf) == Policy(
        deny_private=True, deny=(net("127.0.0.2/32"), net("fd00::/8")), allow=(net("10.0.0.0/24"),)
    )


ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)
link_local = st.integers(0, 2**16 - 1).map(lambda n: ipaddress.IPv4Address(0xA9FE0000 + n))


@given(link_local)
def test_every_link_local_address_is_denied_in_every_ipv6_wrapping(address: ipaddress.IPv4Address) -> None:
    for form in (address, ip(f"::ffff:{address}"), ip(f"64:ff9b::{address}")):
        assert refusal(form, DEFAULT) is not None
        assert refusal(form, Policy(deny_private=True)) is not None


@given(ipv4, st.booleans())
def test_an_ipv4_mapped_address_gets_the_same_verdict_as_the_ipv4_one(
    address: ipaddress.IPv4Address, deny_private: bool
) -> None:
    policy = Policy(deny_private=deny_private, deny=(net("203.0.113.0/24"),))
    mapped = ip(f"::ffff:{address}")
    assert (refusal(address, policy) is None) == (refusal(mapped, policy) is None)


@given(ipv4)
def test_an_allowed_address_is_never_refused(address: ipaddress.IPv4Address) -> None:
    policy = Policy(deny_private=True, deny=(net("0.0.0.0/0"),), allow=(net(f"{address}/32"),))
    assert refusal(address, policy) is None


# -- enforcement at connect time, loopback only ------------------------------------------


class Listener:
    """A TCP server that answers 200 and counts every connection it accepts."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@asynccontextmanager
async def listening(host: str, port: int = 0) -> AsyncIterator[tuple[Listener, int]]:
    listener = Listener()
    server = await asyncio.start_server(listener.handle, host, port)
    try:
        yield listener, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def plan(url: str, retries: int = 3) -> HttpRequestPlan:
    return HttpRequestPlan(
        method="GET",
        url=url,
        headers={},
        body=None,
        timeout_seconds=5,
        expected_status_codes=None,
        idempotency_key="k",
        signing_key=None,
        signing_header="X-Signature",
        retry_limit=retries,
        backoff_seconds=0.01,
        max_backoff_seconds=0.01,
    )


DENY_127_0_0_2 = Policy(deny=(net("127.0.0.2/32"),))


@pytest.mark.parametrize("host", ["127.0.0.2", "127.2", "2130706434", "[::ffff:127.0.0.2]"])
def test_a_denied_address_gets_no_connection_whatever_form_the_url_writes_it_in(host: str) -> None:
    """127.2 and 2130706434 are names only the resolver turns into 127.0.0.2: a guard that
    looked at the URL instead of the resolved address would let them through."""

    async def scenario() -> None:
        async with listening("127.0.0.2") as (listener, port), make_client(ssrf=DENY_127_0_0_2) as client:
            outcome = await execute(client, plan(f"http://{host}:{port}/hook"))
            assert not outcome.succeeded
            assert outcome.error is not None
            assert outcome.error.startswith("refused by the SSRF guard: ")
            assert "in the denied range 127.0.0.2/32" in outcome.error
            assert outcome.attempts == 1  # a refusal is not retried
            assert listener.connections == 0

    asyncio.run(scenario())


def test_an_allowed_address_in_a_denied_range_is_called() -> None:
    policy = Policy(deny=(net("127.0.0.0/8"),), allow=(net("127.0.0.2/32"),))

    async def scenario() -> None:
        async with listening("127.0.0.2") as (listener, port), make_client(ssrf=policy) as client:
            outcome = await execute(client, plan(f"http://127.0.0.2:{port}/hook"))
            assert outcome.succeeded, outcome.error
            assert listener.connections == 1

    asyncio.run(scenario())


def test_the_guard_connects_to_the_address_it_checked_and_never_resolves_twice() -> None:
    """DNS rebinding: a resolver whose answer turns to a denied address after the first
    lookup. The guard looks the name up once per connection and dials the checked address;
    of a mixed answer it dials only the allowed addresses. The name is "localhost" so that
    even a guard bypassed altogether would resolve it from /etc/hosts, never by DNS."""
    lookups: list[str] = []
    answers: list[list[IPAddress]] = [[ip("127.0.0.2"), ip("127.0.0.1")], [ip("127.0.0.2")]]

    async def rebinding_resolver(host: str, port: int) -> list[IPAddress]:
        lookups.append(host)
        return answers[min(len(lookups) - 1, 1)]

    async def scenario() -> None:
        backend = GuardedBackend(DENY_127_0_0_2, resolve=rebinding_resolver)
        async with (
            listening("127.0.0.1") as (allowed, port),
            listening("127.0.0.2", port) as (denied, _),  # same port: only the address differs
            make_client(ssrf=backend) as client,
        ):
            first = await execute(client, plan(f"http://localhost:{port}/a", retries=0))
            assert first.succeeded, first.error
            second = await execute(client, plan(f"http://localhost:{port}/b", retries=0))
            assert second.error == "refused by the SSRF guard: 127.0.0.2 is in the denied range 127.0.0.2/32"
            assert (allowed.connections, denied.connections) == (1, 0)
            assert lookups == ["localhost", "localhost"]

    asyncio.run(scenario())


# -- the transport: public httpx/httpcore API, httpx's own error and stream behaviour -----

HTTPCORE_ERRORS = [
    error
    for name in httpcore.__all__
    if isinstance(error := getattr(httpcore, name), type) and issubclass(error, Exception)
]


@pytest.mark.parametrize("error", HTTPCORE_ERRORS, ids=lambda error: error.__name__)
def test_every_httpcore_error_is_reported_as_the_httpx_error_of_the_same_name(
    error: type[Exception],
) -> None:
    """httpx's own transport maps each httpcore exception to the httpx class of the same
    name (the most specific one) and lets one httpx has no class for (ConnectionNotAvailable,
    which the pool handles itself) through unchanged; callers must not see a difference."""
    mapped = httpx_error(error("the message"))
    if not hasattr(httpx, error.__name__):
        assert mapped is None
        return
    assert type(mapped) is getattr(httpx, error.__name__)
    assert str(mapped) == "the message"


def test_a_refusal_reaches_the_caller_as_httpx_connect_error_caused_by_the_guard() -> None:
    async def scenario() -> None:
        async with listening("127.0.0.2") as (listener, port), make_client(ssrf=DENY_127_0_0_2) as client:
            with pytest.raises(httpx.ConnectError) as raised:
                await client.get(f"http://127.0.0.2:{port}/")
            assert isinstance(raised.value.__cause__, SsrfRefused)
            assert refused_by_guard(raised.value) is raised.value.__cause__
            assert listener.connections == 0

    asyncio.run(scenario())


def test_the_transport_streams_the_body_and_gives_the_connection_back_on_close() -> None:
    """The body arrives in parts as the server sends them; a body read to its end leaves
    the connection idle in the pool for the next request, one closed unread closes it."""
    parts = [b"first,", b"second,", b"third"]

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for part in parts:
            await response.write(part)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/", chunked)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        transport = GuardedTransport(GuardedBackend(DEFAULT), httpx.Limits(max_connections=4))
        try:
            async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
                async with client.stream("GET", url) as response:
                    received = [part async for part in response.aiter_raw()]
                assert b"".join(received) == b"".join(parts) and len(received) > 1
                [pool] = transport.pools
                [connection] = pool.connections
                assert connection.is_idle()
                assert (await client.get(url)).content == b"".join(parts)
                assert pool.connections == [connection]  # reused
                async with client.stream("GET", url) as response:
                    assert response.status_code == 200  # closed unread
                assert pool.connections == []
                assert transport.in_flight == [0]
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_read_timeout_is_httpx_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with make_client() as client:
                with pytest.raises(httpx.ReadTimeout) as raised:
                    await client.get(f"http://127.0.0.1:{port}/", timeout=0.1)
                assert isinstance(raised.value.__cause__, httpcore.ReadTimeout)
        finally:
            server.close()

    asyncio.run(scenario())


def test_requests_go_to_their_origins_pool_while_it_has_room_then_to_the_freest() -> None:
    transport = GuardedTransport(GuardedBackend(DEFAULT), httpx.Limits(max_connections=10), pools=4)
    assert transport.capacity == [3, 3, 2, 2]
    home = transport.choose(b"example.com", 443)
    assert transport.choose(b"example.com", 443) == home  # the same origin, the same pool
    transport.in_flight[home] = transport.capacity[home]
    other = transport.choose(b"example.com", 443)
    assert other != home and transport.in_flight[other] == 0
    transport.in_flight = list(transport.capacity)
    transport.in_flight[2] -= 1
    assert transport.choose(b"example.com", 443) == 2  # the only free connection


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), max_size=60), st.integers(1, 16))
def test_no_request_waits_in_a_full_pool_while_a_connection_is_free(
    steps: list[tuple[bool, int]], connections: int
) -> None:
    """Starting a request when fewer than max_connections are in flight always picks a
    pool with a free connection (the scheduler never has more in flight)."""
    transport = GuardedTransport(
        GuardedBackend(DEFAULT), httpx.Limits(max_connections=connections), pools=max(1, connections // 3)
    )
    flights: list[int] = []
    for start, origin in steps:
        if start and len(flights) < connections:
            index = transport.choose(b"host%d" % origin, 80)
            assert transport.in_flight[index] < transport.capacity[index]
            transport.in_flight[index] += 1
            flights.append(index)
        elif flights:
            transport.in_flight[flights.pop(origin % len(flights))] -= 1


@pytest.mark.parametrize(("connections", "pools"), [(128, 32), (130, 32), (6, 1), (1, 1)])
def test_the_clients_connections_are_split_into_small_pools(connections: int, pools: int) -> None:
    transport = make_transport(connections, GuardedBackend(DEFAULT))
    assert len(transport.pools) == pools
    assert sum(transport.capacity) == connections
    assert [pool.connections for pool in transport.pools] == [[]] * pools


@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("10.1.2.3", ["10.1.2.3"]),  # its own answer, no worker thread
        ("::1", ["::1"]),
        ("[::1]", ["::1"]),
        ("127.1", ["127.0.0.1"]),  # other numeric forms: as getaddrinfo (and the kernel) read them
        ("0x7f.1", ["127.0.0.1"]),
    ],
)
def test_the_system_resolver_reads_numeric_hosts_as_the_kernel_does(host: str, addresses: list[str]) -> None:
    resolved = asyncio.run(resolve_system(host, 80))
    assert [str(a) for a in resolved] == addresses
