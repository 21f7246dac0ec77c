"""No test leaves this machine: every connection and name lookup made in the test process stays on loopback.

Loaded first by the root conftest. A connection to an address that is not loopback, or a lookup of
a name that is not ``localhost``, fails at once with :class:`LeftLoopback` naming it, so a
forgotten public default shows up as a failing test instead of a request to the internet (or a
failed attempt at one). Servers the tests start as processes of their own (DaCHS, JupyterHub,
Chromium) are not watched here; they are configured with loopback addresses only.

``tests/netns`` runs in a private network namespace whose only interface is loopback, holding
public addresses: there the namespace is the guard (``ESAP_TEST_NETNS=1``).
"""

from __future__ import annotations

import ipaddress
import os
import socket

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class LeftLoopback(OSError):
    """A test tried to reach (or look up) something off this machine."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]").split("%", 1)[0]
    if host.lower().rstrip(".") in LOCAL_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _checked_connect(connect):
    def guarded(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(str(address[0])):
            raise LeftLoopback(f"a test tried to connect to {address[0]}:{address[1]}, off this machine")
        return connect(self, address, *args)

    return guarded


def _checked_getaddrinfo(getaddrinfo):
    def guarded(host, *args, **kwargs):
        if host is not None and not is_loopback(host.decode() if isinstance(host, bytes) else str(host)):
            raise LeftLoopback(f"a test tried to look up {host!r}, a name off this machine")
        return getaddrinfo(host, *args, **kwargs)

    return guarded


def install() -> None:
    if os.environ.get("ESAP_TEST_NETNS") == "1" or getattr(socket.socket.connect, "loopback_only", False):
        return
    for name in ("connect", "connect_ex"):
        guarded = _checked_connect(getattr(socket.socket, name))
        guarded.loopback_only = True
        setattr(socket.socket, name, guarded)
    socket.getaddrinfo = _checked_getaddrinfo(socket.getaddrinfo)


install()
