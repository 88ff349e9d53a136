"""The HTTP client that fetches users' URLs, with the SSRF check at the moment of connecting.

Checking a host name before the request is not enough: DNS can answer a public address to the check
and a private one to the connection (DNS rebinding). Here the name is resolved once per connection,
every address is checked, and the socket is opened to the checked address itself, so what was
checked is what is reached. TLS still verifies the certificate against the host name (httpcore passes
the URL's host to the handshake, not the address). Environment proxies are not used for these
fetches: through a proxy the address check would be meaningless.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing

import httpcore
import httpx


class RefusedAddress(Exception):
    """The host resolves to an address users' links may not reach (loopback, private, ...)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} resolves to a private or local address")
        self.host = host


# Not globally routable, though Python's ``is_global`` may say otherwise (it varies by version).
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space: carrier NAT, cloud metadata
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments (192.0.0.8 among them)
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",  # multicast, reserved, broadcast
    )
)
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/8",  # unspecified, loopback, IPv4-compatible and -mapped (checked as IPv4 too)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routed inside sites)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: mapped or compatible (::ffff:a.b.c.d, ::a.b.c.d),
    6to4 (2002:AABB:CCDD::), Teredo (server and client), NAT64 (64:ff9b::a.b.c.d)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    packed = ip.packed
    if packed[:12] == bytes(12):
        found.append(ipaddress.IPv4Address(packed[12:]))
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def refused_address(addr: str) -> bool:
    """True for every address that is not globally routable: loopback, private, shared (100.64/10),
    link-local, site-local, reserved, documentation, IETF protocol assignments (192.0.0.0/24),
    multicast, unspecified; and for an IPv6 address that carries a refused IPv4 one (mapped,
    compatible, 6to4, Teredo, NAT64). Only global unicast (2000::/3) IPv6 is allowed at all."""
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return refused_address(str(ip.ipv4_mapped))  # ::ffff:a.b.c.d is a.b.c.d
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded:
            return any(refused_address(str(v4)) for v4 in embedded) or (
                ip not in _NAT64 and not ip.sixtofour and any(ip in n for n in _REFUSED_V6)
            )
        if ip not in ipaddress.IPv6Network("2000::/3") or any(ip in n for n in _REFUSED_V6):
            return True
    elif any(ip in n for n in _REFUSED_V4):
        return True
    return bool(
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, but each TCP connection goes to an address checked just now."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addrs = await resolve(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"{host} does not resolve") from exc
        if not addrs or any(refused_address(a) for a in addrs):
            raise RefusedAddress(host)
        error: Exception | None = None
        for addr in addrs:
            try:
                return await self._inner.connect_tcp(
                    addr, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress(path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # httpx has no public hook for the network backend; its pool is rebuilt with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend()
        )


def url_client(timeout: float, allow_private: bool) -> httpx.AsyncClient:
    """The client for users' URLs: address-checked at connect time unless private ones are allowed
    (tests and trusted intranets)."""
    if allow_private:
        return httpx.AsyncClient(timeout=timeout)
    return httpx.AsyncClient(timeout=timeout, transport=_GuardedTransport(), trust_env=False)
