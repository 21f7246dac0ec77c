"""``esap worker``: process the queue's jobs, and start the periodic upkeep once for all workers.

A worker runs its jobs in its own process, one after the other, on a pool of database
connections that outlives them: a launch starts within milliseconds of being enqueued.
``--fork`` runs each job in a work horse forked for it instead (RQ's default): a job that
crashes or leaks takes only itself down, for about 150 ms more per job, and the horse opens
a database connection of its own (a connection must never cross a fork).
"""

from __future__ import annotations

from flask import Flask

from esap_core import queue, schedule, staging


def run(app: Flask, burst: bool = False, fork: bool = False) -> None:
    """Process jobs until stopped (or, with ``burst``, until the queue is empty); ``fork``: a horse per job."""
    from rq import SimpleWorker, Worker

    queue.worker_app = app
    jobs: queue.JobQueue = app.extensions["esap.queue"]
    if not burst:
        with app.app_context():
            schedule.ensure_started()
    if fork:
        staging.notebook("warm-up", {}, [])  # nbformat's second of set-up, once here, not in every horse
    worker = (Worker if fork else SimpleWorker)([jobs.queue()], connection=jobs.connection())
    worker.work(burst=burst, with_scheduler=not burst)
