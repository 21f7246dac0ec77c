"""HTTP sessions for VO calls: through ESAP's outbound guard, and every request with a timeout.

Services an admin configured (the registry, pinned services, the name resolver) may live
on internal addresses; services a researcher picked from a registry's answer may not,
unless ESAP allows private addresses: :func:`picked_by_user` marks such calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import requests

from esap_core import GuardedSession

USER_AGENT = "esap-vo/0.1 (ESAP science platform; IVOA DAL client)"
_private_ok: ContextVar[bool | None] = ContextVar("private_ok", default=True)


@contextmanager
def picked_by_user(private_ok: bool | None) -> Iterator[None]:
    """Within this block, sessions reach internal addresses only if ``private_ok`` (None: as ESAP allows)."""
    token = _private_ok.set(private_ok)
    try:
        yield
    finally:
        _private_ok.reset(token)


class TimeoutSession(GuardedSession):
    """A guarded session whose requests default to ``timeout`` seconds (connect and read).

    Use it as a context manager: closing it also closes every response it handed out,
    because pyvo leaves some streamed responses (async job creation) unread and open.
    """

    def __init__(self, timeout: float):
        super().__init__(private_ok=_private_ok.get())
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        self.responses: list[requests.Response] = []

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        response = super().request(method, url, **kwargs)
        self.responses.append(response)
        return response

    def close(self) -> None:
        for response in self.responses:
            response.close()
        self.responses.clear()
        super().close()
