"""HTTP/1.1 over a unix socket: how a worker on the cluster's login node reaches slurmrestd without a token."""

from __future__ import annotations

import http.client
import socket


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class AnswerTooLarge(Exception):
    """The server sent more than the caller takes."""


def request(
    socket_path: str,
    method: str,
    target: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    max_bytes: int,
) -> tuple[int, str, bytes]:
    """Send one request; return the status, the content type and the body (``OSError`` when unreachable)."""
    connection = _UnixConnection(socket_path, timeout)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise AnswerTooLarge(f"more than {max_bytes} bytes")
        return response.status, response.getheader("Content-Type", ""), content
    finally:
        connection.close()
