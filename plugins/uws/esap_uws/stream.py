"""A result's bytes as ESAP reads them: straight from the service, never more than ESAP takes back."""

from __future__ import annotations

import io
from typing import Any

import requests
import urllib3

from esap_core import FacilityError


def too_large(name: str, size: int, max_bytes: int) -> FacilityError:
    return FacilityError(f"the result {name!r} is {size} bytes, more than the {max_bytes} ESAP takes back from a job")


class ResultStream(io.RawIOBase):
    """An HTTP answer's body that fails, rather than truncates, past ``max_bytes``; closing it ends the request."""

    def __init__(self, session: requests.Session, answer: requests.Response, name: str, max_bytes: int):
        self.session, self.answer, self.name, self.max_bytes, self.given = session, answer, name, max_bytes, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            chunk = self.answer.raw.read(min(len(view), self.max_bytes - self.given + 1), decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            raise FacilityError(f"reading the result {self.name!r} failed: {error}") from None
        self.given += len(chunk)
        if self.given > self.max_bytes:
            raise too_large(self.name, self.given, self.max_bytes)
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self.answer.close()
            self.session.close()
        super().close()
