"""The one way out to the network for addresses a user chose: one parser, checked and pinned addresses.

A :class:`GuardedSession` is a ``requests.Session`` whose every connection, redirects
included, is checked where it is made: the host is taken from the very parse that
``requests`` connects with, resolved once, every address it resolves to must be globally
routable (unless private addresses are allowed), and the connection goes to the address
that was checked, so a second DNS answer (rebinding) is never used. URLs that parsers
read differently (a backslash, userinfo, control characters) are refused before that.

The technique (pinning the checked address in the adapter, keeping the name for the
``Host`` header and TLS) is the one ``requests-hardened`` uses; ESAP keeps its own small
adapter because it needs an allow-list (``is_global``, with IPv4 addresses embedded in
IPv6 ones unwrapped) rather than a deny-list, a policy chosen per call (a user's private
facility, or an admin's), and a resolver tests can replace (:data:`resolver`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

SCHEMES = ("http", "https")
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read: a request with no timeout of its own never hangs forever
MAX_REDIRECTS = 5
NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
URL_START = re.compile(r"^[a-z][a-z0-9+.-]*://")


class AddressRefused(requests.ConnectionError):
    """ESAP will not connect there for a user; the message says which address and why."""


class HostNotFound(requests.ConnectionError):
    """The host name does not resolve (a typo, or no network on this machine)."""


def network_failure(service: str, error: BaseException) -> tuple[str, str]:
    """A failed request to ``service`` as (a plain sentence, its technical detail).

    For a :class:`PlainError`: ``raise FacilityError(*network_failure("BinderHub at …", error))``.
    The sentence says what happened and what it means; the detail is the innermost reason
    (requests nests the socket error inside urllib3's), shown behind a disclosure.
    """
    if isinstance(error, AddressRefused):
        return f"ESAP does not connect to {service}: {error}", ""
    detail = str(error) if isinstance(error, HostNotFound) else network_reason(error)  # the former names the host
    if not URL_START.match(service):  # the name begins the sentence; an address stays as it is
        service = service[:1].upper() + service[1:]
    if isinstance(error, requests.Timeout) or _innermost(error, TimeoutError):
        return (
            f"{service} did not answer in time: it may be overloaded or unreachable from here. Try again later.",
            detail,
        )
    if isinstance(error, HostNotFound) or "NameResolution" in detail or "Name or service not known" in detail:
        return f"{service} cannot be found: its host name is unknown, or this machine has no network.", detail
    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        return f"{service} answered with an error (HTTP {status}): it may be down for a while.", detail
    if isinstance(error, requests.ConnectionError | ConnectionError):
        return f"{service} cannot be reached: it is down, or this machine has no network to it.", detail
    return f"{service} failed to answer.", detail


def network_reason(error: BaseException) -> str:
    """The innermost reason of a network error, on one line (the socket's own words read best)."""
    reason: BaseException = error
    for _ in range(10):
        inner = getattr(reason, "reason", None) or reason.__context__
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return " ".join((str(reason) or type(reason).__name__).split())[:500]


def _innermost(error: BaseException, kind: type[BaseException]) -> bool:
    current: BaseException | None = error
    for _ in range(10):
        if current is None:
            return False
        if isinstance(current, kind):
            return True
        nested = getattr(current, "reason", None)
        current = nested if isinstance(nested, BaseException) else current.__context__
    return False


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


resolver: Callable[[str, int], list[str]] = _resolve  # host, port → addresses; tests replace it


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """Whether ``address`` is globally routable, and so is what it embeds (``::ffff:127.0.0.1`` is not)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return inner.is_global and not inner.is_multicast
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL that every parser reads alike; raise :class:`AddressRefused` otherwise.

    This is the syntax half of the guard, used when a URL is registered; the address half
    runs at every connection (:class:`GuardedSession`).
    """
    if not isinstance(url, str) or not url:
        raise AddressRefused("An http(s) URL is needed here.")
    if "\\" in url or any(ord(character) < 33 or ord(character) == 127 for character in url):
        raise AddressRefused("The URL has a backslash, a space or a control character; write it plainly.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused(f"{url[:200]!r} is not a valid URL.") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise AddressRefused("Only http:// and https:// URLs with a host name are accepted.")
    if "@" in parts.netloc:
        raise AddressRefused("The URL carries a user name or password before its host; give the host alone.")
    if port == 0:
        raise AddressRefused("The URL's port must be between 1 and 65535.")
    return url


def pinned_address(host: str, port: int, private_ok: bool) -> str:
    """The one address to connect to for ``host``: every address it resolves to must be allowed."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except (socket.gaierror, UnicodeError) as error:
            raise HostNotFound(f"The host {host!r} cannot be found ({error}).") from None
        if not addresses:
            raise HostNotFound(f"The host {host!r} cannot be found.")
    if not private_ok:
        for address in addresses:
            if not is_public(address):
                raise AddressRefused(
                    f"{host} points to an internal address ({address}); ESAP does not connect there for users."
                )
    return addresses[0]


class _PinningAdapter(HTTPAdapter):
    """Checks and pins the address of every connection, using the host ``requests`` itself parsed."""

    def __init__(self, private_ok: bool):
        super().__init__()
        self.private_ok = private_ok

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host, port = host_params["host"], host_params["port"]
        scheme = host_params["scheme"]
        if scheme not in SCHEMES or not host:
            raise AddressRefused("Only http:// and https:// URLs with a host name are accepted.")
        address = pinned_address(host, port or (443 if scheme == "https" else 80), self.private_ok)
        # The request keeps the name (Host header, TLS certificate and SNI); the socket gets the checked address.
        request.headers = CaseInsensitiveDict(request.headers or {})
        shown = f"[{host}]" if ":" in host else host
        request.headers["Host"] = f"{shown}:{port}" if port else shown
        if scheme == "https":
            pool_kwargs["assert_hostname"] = host
            pool_kwargs["server_hostname"] = host
        host_params["host"] = f"[{address}]" if ":" in address else address
        return host_params, pool_kwargs


class GuardedSession(requests.Session):
    """A ``requests.Session`` for addresses users chose.

    ``private_ok``: connect to internal addresses too (an admin's facility, or ESAP's
    ``allow_private_facilities``); ``None`` takes the running app's setting, ``False``
    outside an app. Environment proxies and ``.netrc`` are ignored, redirects are
    checked hop by hop (at most :data:`MAX_REDIRECTS`), and a request without a timeout
    gets :data:`DEFAULT_TIMEOUT`.
    """

    def __init__(self, private_ok: bool | None = None):
        super().__init__()
        self.private_ok = _app_allows_private() if private_ok is None else private_ok
        self.trust_env = False
        self.max_redirects = MAX_REDIRECTS
        adapter = _PinningAdapter(self.private_ok)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        check_url(url.decode() if isinstance(url, bytes) else url)
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        if kwargs["timeout"] is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT
        return super().request(method, url, *args, **kwargs)

    def get_redirect_target(self, response: requests.Response) -> str | None:
        target = super().get_redirect_target(response)
        if target is not None:
            location = requests.compat.urljoin(response.url, target)
            check_url(location)
        return target


def _app_allows_private() -> bool:
    from flask import current_app, has_app_context

    return has_app_context() and bool(current_app.extensions["esap.config"].allow_private_facilities)


def check_address(url: str, private_ok: bool | None = None) -> str:
    """Check ``url`` whole (syntax and where it resolves to now) without connecting; returns it.

    For registration pages, so a user hears at once that an address is refused; the
    connection itself is checked again when it is made.
    """
    check_url(url)
    allowed = _app_allows_private() if private_ok is None else private_ok
    parts = urlsplit(url)
    pinned_address(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), allowed)
    return url
