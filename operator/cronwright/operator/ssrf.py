"""The SSRF guard: which addresses a scheduled HTTP call may connect to, enforced at connect time.

Anyone who may create a CronJobSpec chooses a URL the operator then calls from inside the
cluster, with the operator's network position. Without a guard that is a server-side
request forgery primitive: the cloud metadata service (node credentials), the kubelet,
in-cluster Services that trust their network. The decision (``refusal``) is a pure
function of one address and the policy; ``GuardedBackend`` is the thin shell that makes
every connection go through it:

* it resolves the host itself and connects to the address it checked, so a DNS answer
  that changes between a check and the connect (DNS rebinding) cannot slip through, and
  neither can a redirect (each hop is a new connection) or a host written in a form only
  the resolver understands (``127.1``, ``2130706433``, ``[::ffff:a9fe:a9fe]``);
* TLS is still verified against the host name, because httpcore starts TLS on the
  returned stream with the URL's host as server name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpcore
import httpx

from cronwright.core.config import SsrfSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


def _net(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr)


ALWAYS_DENIED: tuple[tuple[IPNetwork, str], ...] = (
    (_net("169.254.0.0/16"), "link-local (cloud metadata services, e.g. 169.254.169.254, 169.254.170.2)"),
    (_net("fe80::/10"), "link-local"),
    (_net("fd00:ec2::254/128"), "the AWS instance metadata service (IPv6)"),
    (_net("100.100.100.200/32"), "the Alibaba Cloud metadata service"),
    (_net("168.63.129.16/32"), "the Azure WireServer (platform agent endpoint)"),
    (_net("0.0.0.0/8"), "an unspecified address ('this host')"),
    (_net("::/128"), "an unspecified address ('this host')"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("ff00::/8"), "multicast"),
    (_net("240.0.0.0/4"), "reserved (incl. broadcast)"),
)
"""Denied unless explicitly allowed: nothing a scheduled call should reach, and the places
an attacker would aim at. 168.63.129.16 is a public address only Azure VMs can reach."""

PRIVATE: tuple[tuple[IPNetwork, str], ...] = (
    (_net("127.0.0.0/8"), "loopback"),
    (_net("::1/128"), "loopback"),
    (_net("10.0.0.0/8"), "private (RFC 1918)"),
    (_net("172.16.0.0/12"), "private (RFC 1918)"),
    (_net("192.168.0.0/16"), "private (RFC 1918)"),
    (_net("100.64.0.0/10"), "shared address space (RFC 6598, carrier-grade NAT)"),
    (_net("fc00::/7"), "private (unique local IPv6)"),
)
"""Denied with ``denyPrivate: true``: the cluster's own networks, and the pod itself."""

_NAT64 = _net("64:ff9b::/96")
_IPV4_COMPATIBLE = _net("::/96")


@dataclass(frozen=True)
class Policy:
    deny_private: bool = False
    deny: tuple[IPNetwork, ...] = ()
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: SsrfSettings) -> Policy:
        return cls(settings.deny_private, tuple(settings.deny), tuple(settings.allow))


def _forms(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address it embeds, which is what a packet may end up at:
    IPv4-mapped and -compatible IPv6, NAT64 and 6to4 all carry an IPv4 destination."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    forms: list[IPAddress] = [address]
    embedded = address.ipv4_mapped or address.sixtofour
    compatible = address in _IPV4_COMPATIBLE and int(address) > 1  # :: and ::1 are not IPv4
    if embedded is None and (address in _NAT64 or compatible):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if embedded is not None:
        forms.append(embedded)
    return forms


def _in(address: IPAddress, network: IPNetwork) -> bool:
    return address.version == network.version and address in network


def refusal(address: IPAddress, policy: Policy) -> str | None:
    """Why connecting to ``address`` is refused, or None when it is allowed.

    ``allow`` wins over everything, built-in list included: an administrator who lists
    169.254.20.10 (NodeLocal DNSCache) or a private Service range means it.
    """
    forms = _forms(address.__class__(int(address)))  # drops an IPv6 scope id
    if any(_in(form, network) for form in forms for network in policy.allow):
        return None
    # The administrator's own ranges first: their reason is the one they will recognise.
    denied = [(network, f"in the denied range {network}") for network in policy.deny]
    denied += ALWAYS_DENIED
    if policy.deny_private:
        denied += PRIVATE
    for form in forms:
        for network, reason in denied:
            if _in(form, network):
                via = "" if form == forms[0] else f" (it embeds {form})"
                return f"{address} is {reason}{via}"
    return None


class SsrfRefused(httpcore.ConnectError):
    """No address of the host may be connected to; the message says which and why.

    A subclass of httpcore's ConnectError, so httpx reports it as a transport error with
    this exception as its cause, and the executor can tell it from a network failure."""


async def resolve_system(host: str, port: int) -> list[IPAddress]:
    """The system resolver (getaddrinfo): /etc/hosts, DNS, and numeric forms alike. An
    address in its standard form is its own answer: asyncio's getaddrinfo would send it
    to a worker thread (six on two cores), and a burst of runs opens 128 connections at
    once. Other numeric forms (`127.1`, `0x7f.1`) still go to getaddrinfo, which reads
    them as the kernel will; the guard judges the address either way."""
    with contextlib.suppress(ValueError):
        return [ipaddress.ip_address(host.strip("[]"))]
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    unique: dict[IPAddress, None] = {}
    for _, _, _, _, sockaddr in infos:
        unique[ipaddress.ip_address(sockaddr[0])] = None
    return list(unique)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the guard in front of every TCP connect."""

    def __init__(
        self,
        policy: Policy,
        resolve: Resolver = resolve_system,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except socket.gaierror as error:
            raise httpcore.ConnectError(str(error)) from error
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from error
        allowed = [a for a in addresses if refusal(a, self.policy) is None]
        if not allowed:
            reasons = "; ".join(dict.fromkeys(str(refusal(a, self.policy)) for a in addresses))
            raise SsrfRefused(f"refused by the SSRF guard: {reasons or f'{host} has no address'}")
        last_error: httpcore.ConnectError | None = None
        for address in allowed:  # connect to what was checked, never to the name again
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                last_error = error
        assert last_error is not None
        raise last_error

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


#: httpcore's exceptions and the httpx classes they are reported as: the same table httpx's
#: own transport uses (httpx/_transports/default.py), so callers see the errors they would
#: see with httpx's transport. The most specific match wins (ConnectTimeout over
#: TimeoutException; SsrfRefused, a ConnectError, becomes httpx.ConnectError).
HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
)


def httpx_error(error: Exception) -> httpx.HTTPError | None:
    """The httpx exception ``error`` from httpcore is reported as, or None if it is not one."""
    mapped: type[httpx.HTTPError] | None = None
    for source, target in HTTPCORE_TO_HTTPX:
        if isinstance(error, source) and (mapped is None or issubclass(target, mapped)):
            mapped = target
    return None if mapped is None else mapped(str(error))


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        mapped = httpx_error(error)
        if mapped is None:
            raise
        raise mapped from error


class _ResponseStream(httpx.AsyncByteStream):
    """httpcore's response body as httpx's stream: its errors mapped, its close passed on
    (which returns the connection to the pool, or closes it if the body was not read)."""

    def __init__(self, body: AsyncIterable[bytes], closed: Callable[[], None]) -> None:
        self.body = body
        self.closed = closed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self.body:
                yield part

    async def aclose(self) -> None:
        try:
            close = getattr(self.body, "aclose", None)
            if close is not None:  # unmapped, as in httpx's own transport
                await close()
        finally:
            self.closed()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over httpcore pools whose connections all go through
    ``GuardedBackend``.

    httpx's own transport gives no public way to choose the pool's network backend, so
    this one owns its pools and does the little that httpx's does around them (map the
    request, the response and the errors), with public API of both libraries only:
    tests/unit/test_library_privates.py fails on any private attribute of httpx or
    httpcore. No proxy (trust_env is off for the client anyway), HTTP/1.1 only.

    ``pools``: the connections are split over this many httpcore pools. httpcore scans
    every connection of a pool whenever a request starts or ends, and for each idle one
    counts all of them again, so one pool of 128 costs about 16 times as much per scan
    as one of 32 (docs/benchmarks.md, "HTTP fan-out"). A request goes to its origin's
    own pool while that has a connection not in use, so a host keeps reusing its warm
    connections; else to the pool with the most not in use. With no more requests in
    flight than connections (the scheduler admits no more runs), no request waits in a
    pool that has none free while another has one.
    """

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits, pools: int = 1) -> None:
        if limits.max_connections is None or not 1 <= pools <= limits.max_connections:
            raise ValueError("pools must be between 1 and max_connections")
        ssl_context = httpx.create_ssl_context(trust_env=False)
        keepalive = limits.max_keepalive_connections
        self.capacity = [_share(limits.max_connections, pools, index) for index in range(pools)]
        self.pools = [
            httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=self.capacity[index],
                max_keepalive_connections=None if keepalive is None else _share(keepalive, pools, index),
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )
            for index in range(pools)
        ]
        self.in_flight = [0] * pools

    def choose(self, host: bytes, port: int | None) -> int:
        """The pool a request to (host, port) goes to: the origin's own pool while it has a
        free connection (where its warm connections are), else the one with most free."""
        count = len(self.pools)
        home = zlib.crc32(b"%s:%d" % (host, port or 0)) % count
        if self.in_flight[home] < self.capacity[home]:
            return home
        return min(
            range(count),
            key=lambda index: (self.in_flight[index] - self.capacity[index], (index - home) % count),
        )

    async def __aenter__(self) -> Self:
        for pool in self.pools:
            await pool.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        with _httpx_errors():
            for pool in self.pools:
                await pool.__aexit__(exc_type, exc_value, traceback)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        index = self.choose(url.raw_host, url.port)
        self.in_flight[index] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight[index] -= 1

        try:
            with _httpx_errors():
                response = await self.pools[index].handle_async_request(core_request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


def _share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split into ``parts`` as evenly as integers allow."""
    size, rest = divmod(total, parts)
    return size + (index < rest)


def refused_by_guard(error: BaseException) -> SsrfRefused | None:
    """The guard's refusal behind an httpx error, if that is what it is."""
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        if isinstance(current, SsrfRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
