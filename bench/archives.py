"""Archives for bench/fanout.py: a plugin of N small archives, each asking a local server that answers late.

``create()`` is the WSGI app gunicorn serves: ESAP's own app factory with this module
added as the plugin ``bench-archives``, whose settings (``[plugins."bench-archives"]``)
give the delaying server's URL and the archives' names. :class:`DelayServer` answers
``GET /<name>?keywords=...`` with ten JSON rows after ``delay`` seconds, or never (until
the benchmark stops) for names in ``hang``. Everything is on 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from esap_core import Archive, ArchiveError, DataItem, QueryField, QueryKind, ResultPage, Settings, hookimpl
from esap_core.hookspecs import Column, UserContext

PLUGIN_NAME = "bench-archives"
ROWS = 10


class DelayedArchive(Archive):
    """One archive: keywords in, ten rows out, as late as its server answers."""

    fields = (QueryField("keywords", "Keywords", required=True),)
    answers = frozenset({QueryKind.KEYWORDS})

    def __init__(self, name: str, url: str):
        self.name, self.title, self.description = name, f"Bench archive {name}", "Answers late, on purpose."
        self.url = f"{url.rstrip('/')}/{name}"

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        try:
            answer = requests.get(self.url, params={"keywords": query["keywords"]}, timeout=timeout)
            answer.raise_for_status()
            rows = answer.json()["rows"]
        except requests.Timeout:
            raise ArchiveError(f"{self.title} did not answer within {timeout:g} s.") from None
        except (requests.RequestException, ValueError, KeyError) as error:
            raise ArchiveError(f"{self.title} failed: {type(error).__name__}") from None
        columns = [Column("id"), Column("title"), Column("ra", unit="deg"), Column("dec", unit="deg")]
        return ResultPage(columns=columns, rows=rows, page=page, page_size=ROWS, total=len(rows))

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        return DataItem(identifier=str(row["id"]), title=str(row["title"]), fetch={"method": "http", "url": self.url})


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    for name in settings.get("names", []):
        register(DelayedArchive(name, settings["url"]))


def create():
    """ESAP with this module as the plugin ``bench-archives`` (``gunicorn 'bench.archives:create()'``)."""
    from esap_core.app import create_app

    return create_app(extra_plugins=[(PLUGIN_NAME, sys.modules[__name__])])


class DelayServer(ThreadingHTTPServer):
    """``GET /<name>``: ten rows after ``delay`` s; never, for a name in ``hang`` (until ``stop()``)."""

    daemon_threads = True

    def __init__(self, delay: float, hang: frozenset[str] = frozenset()):
        super().__init__(("127.0.0.1", 0), DelayHandler)
        self.delay, self.hang = delay, set(hang)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> DelayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class DelayHandler(BaseHTTPRequestHandler):
    server: DelayServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        name = parts.path.strip("/")
        if name in self.server.hang:
            self.server.stopping.wait(120)
            return
        time.sleep(self.server.delay)
        keywords = parse_qs(parts.query).get("keywords", [""])[0]
        rows = [{"id": f"{name}-{n}", "title": f"{keywords} {n}", "ra": n * 10.0, "dec": n - 5.0} for n in range(ROWS)]
        body = json.dumps({"rows": rows}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up

    def log_message(self, *args) -> None:
        pass
