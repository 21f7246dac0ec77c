"""HTTP sessions for VO calls: every request gets a timeout, so no service can hang ESAP."""

from __future__ import annotations

import requests

USER_AGENT = "esap-vo/0.1 (ESAP science platform; IVOA DAL client)"


class TimeoutSession(requests.Session):
    """A requests session whose requests default to ``timeout`` seconds (connect and read).

    Use it as a context manager: closing it also closes every response it handed out,
    because pyvo leaves some streamed responses (async job creation) unread and open.
    """

    def __init__(self, timeout: float):
        super().__init__()
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
