"""slurmrestd's REST API (openapi/v0.0.38), over its unix socket or over http(s) with a JWT."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

import requests

from esap_core import Facility, FacilityError
from esap_slurm import unixhttp
from esap_slurm.settings import API_VERSION, SlurmSettings

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # one job's record is a few KiB
INVALID_JOB_ID = 2017  # ESLURM_INVALID_JOB_ID: the job is unknown, or forgotten since it ended


@dataclass(frozen=True)
class Answer:
    status: int
    data: dict[str, Any]

    @property
    def error_numbers(self) -> set[int]:
        return {error.get("error_number", error.get("error_code")) for error in self.errors}

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors = self.data.get("errors") or []
        return [error for error in errors if isinstance(error, dict)] if isinstance(errors, list) else []

    def error_text(self) -> str:
        """Slurm's own words for what went wrong, or the HTTP status when it gave none."""
        texts = []
        for error in self.errors:
            words = [str(error[key]) for key in ("error", "description") if error.get(key)]
            texts.append(": ".join(dict.fromkeys(words)))
        return "; ".join(text for text in texts if text) or f"HTTP {self.status}"

    @property
    def failed(self) -> bool:
        return self.status >= 400 or bool(self.errors)


class SlurmRest:
    """A client of one facility's slurmrestd; every call ends within ``timeout`` seconds."""

    def __init__(self, facility: Facility, settings: SlurmSettings):
        self.facility, self.settings = facility, settings
        self.where = f"unix:{settings.socket}" if settings.socket else facility.url.rstrip("/")

    def call(self, method: str, path: str, timeout: float, body: dict[str, Any] | None = None) -> Answer:
        """``method`` on ``/slurm/v0.0.38/<path>``; raise FacilityError when slurmrestd cannot be used."""
        target = f"/slurm/{API_VERSION}/{path}"
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            status, content_type, raw = self._send(method, target, content, headers, timeout)
        except (TimeoutError, requests.Timeout):
            raise FacilityError(f"slurmrestd at {self.where} did not answer within {timeout:g} s") from None
        except (OSError, http.client.HTTPException, requests.RequestException) as error:
            raise FacilityError(
                f"slurmrestd at {self.where} cannot be reached ({_reason(error)}): the cluster's REST API is down"
                " or unreachable; jobs already submitted are kept by Slurm"
            ) from None
        except unixhttp.AnswerTooLarge:
            raise FacilityError(f"slurmrestd at {self.where} sent more than {MAX_ANSWER_BYTES} bytes") from None
        if status in (401, 403):
            raise FacilityError(self._refusal(raw))
        return Answer(status, self._json(status, content_type, raw))

    def _send(
        self, method: str, target: str, content: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, str, bytes]:
        if self.settings.socket:
            return unixhttp.request(self.settings.socket, method, target, content, headers, timeout, MAX_ANSWER_BYTES)
        headers["X-SLURM-USER-NAME"] = self.settings.user_name
        headers["X-SLURM-USER-TOKEN"] = self.settings.token.reveal() if self.settings.token else ""
        with self.facility.http() as session:
            answer = session.request(
                method,
                self.facility.url.rstrip("/") + target,
                data=content,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
            with answer:
                raw = answer.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        if len(raw) > MAX_ANSWER_BYTES:
            raise unixhttp.AnswerTooLarge(f"more than {MAX_ANSWER_BYTES} bytes")
        return answer.status_code, answer.headers.get("Content-Type", ""), raw

    def _refusal(self, raw: bytes) -> str:
        said = _printable(raw) or "no reason given"
        if self.settings.socket:
            return f"slurmrestd at {self.where} refused the local (socket) authentication: {said}"
        return (
            f"slurmrestd at {self.where} refused ESAP's credentials for user {self.settings.user_name!r}: {said}."
            " The facility's token may have expired or be wrong; its admin can issue a new one (scontrol token)"
        )

    def _json(self, status: int, content_type: str, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            kind = content_type.split(";")[0] or "no content type"
            raise FacilityError(
                f"slurmrestd at {self.where} answered HTTP {status} ({kind}) with something that is not"
                f" a JSON object: {_printable(raw)[:200] or 'an empty body'}"
            )
        return data


def _reason(error: BaseException) -> str:
    reason = error
    while reason.__context__ is not None and isinstance(reason, requests.RequestException):
        reason = reason.__context__  # requests wraps the socket's own words several times
    return type(reason).__name__ if not str(reason) else str(reason)[:200]


def _printable(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
