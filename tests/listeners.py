"""Servers for the outbound-guard tests: one that counts every connection it gets, one that redirects."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Listener:
    """A TCP listener that records every connection (and its first bytes) and answers like a web server.

    It stands where ESAP must never reach: a test asserts ``connections == []``.
    """

    def __init__(self, host: str = "127.0.0.1"):
        self.socket = socket.create_server((host, 0))
        self.host, self.port = host, self.socket.getsockname()[1]
        self.connections: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    first = connection.recv(4096)
                except OSError:
                    first = b""
                self.connections.append(first)
                body = b'{"version": "inside", "secret": "internal"}'
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Redirector:
    """An HTTP server that answers every request with a redirect to ``target`` (and counts them)."""

    def __init__(self, target: str, host: str = "127.0.0.1"):
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                self.send_response(302)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Redirector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
