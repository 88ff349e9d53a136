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


def refused_address(addr: str) -> bool:
    """True for every address that is not globally routable: loopback, private, shared (100.64/10),
    link-local, reserved, multicast, unspecified, including IPv4 written as IPv6 (``::ffff:127.0.0.1``)."""
    ip = ipaddress.ip_address(addr.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return bool(
        not ip.is_global  # also shared address space (100.64/10: carrier NAT, cloud metadata)
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
