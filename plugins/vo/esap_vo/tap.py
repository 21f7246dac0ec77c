"""Query a TAP service: browse its tables, run ADQL synchronously, or as an async UWS job."""

from __future__ import annotations

import time

from esap_core import ArchiveError, Column, ResultPage, TableInfo
from esap_vo.failures import upstream
from esap_vo.results import overflow_as_note, result_page
from esap_vo.session import TimeoutSession

DEFAULT_MAX_ROWS = 1000
FINAL_PHASES = {"COMPLETED", "ERROR", "ABORTED"}
ACTIVE_PHASES = {"PENDING", "QUEUED", "EXECUTING", "HELD", "SUSPENDED"}


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def tables(url: str, timeout: float) -> list[TableInfo]:
    """The tables the service at ``url`` lists in its VOSI tables document (without columns)."""
    from pyvo.dal import TAPService

    with upstream(url, timeout), TimeoutSession(timeout) as session:
        found = TAPService(url, session=session).tables
        return [TableInfo(name=t.name, description=one_line(t.description)) for t in found]


def table(url: str, name: str, timeout: float) -> TableInfo:
    """One table of the service at ``url`` with its columns (unit, UCD, description)."""
    from pyvo.dal import TAPService

    with upstream(url, timeout), TimeoutSession(timeout) as session:
        found = TAPService(url, session=session).tables
        try:
            described = found[name]
        except KeyError:
            raise ArchiveError(f"{url} has no table {name!r}") from None
        columns = tuple(
            Column(
                name=column.name,
                unit=str(column.unit or ""),
                ucd=column.ucd or "",
                description=one_line(column.description),
                datatype=str(getattr(column.datatype, "content", "") or ""),
            )
            for column in described.columns
        )
        return TableInfo(described.name, one_line(described.description), columns)


def query(url: str, adql: str, timeout: float, max_rows: int = DEFAULT_MAX_ROWS) -> ResultPage:
    """Run ``adql`` synchronously, returning at most ``max_rows`` rows."""
    from pyvo.dal import TAPService

    with upstream(url, timeout), TimeoutSession(timeout) as session, overflow_as_note():
        results = TAPService(url, session=session).run_sync(adql, maxrec=max_rows)
        return result_page(results, max_rows=max_rows)


def query_page(url: str, adql: str, page: int, page_size: int, timeout: float) -> ResultPage:
    """Page ``page`` of ``adql``'s result: asks for the rows up to that page and one more."""
    from pyvo.dal import TAPService

    with upstream(url, timeout), TimeoutSession(timeout) as session, overflow_as_note():
        results = TAPService(url, session=session).run_sync(adql, maxrec=page * page_size + 1)
        return result_page(results, page, page_size)


def submit_job(url: str, adql: str, timeout: float, max_rows: int = DEFAULT_MAX_ROWS) -> str:
    """Create and start an async job for ``adql``; returns the job's URL, its handle from now on."""
    from pyvo.dal import TAPService

    with upstream(url, timeout), TimeoutSession(timeout) as session:
        job = TAPService(url, session=session).submit_job(adql, maxrec=max_rows)
        job.run()
        return job.url


def job(job_url: str, session: TimeoutSession):
    from pyvo.dal import AsyncTAPJob

    return AsyncTAPJob(job_url, session=session)


def job_phase(job_url: str, timeout: float) -> str:
    """The job's phase: PENDING, QUEUED, EXECUTING, COMPLETED, ERROR, ABORTED..."""
    with upstream(job_url, timeout), TimeoutSession(timeout) as session:
        return job(job_url, session).phase


def wait_for_job(job_url: str, timeout: float) -> str:
    """Wait (at most ``timeout`` seconds) until the job ends; returns its final phase."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    with upstream(job_url, timeout), TimeoutSession(timeout) as session:
        running = job(job_url, session)
        while (phase := running.phase) not in FINAL_PHASES:
            if time.monotonic() + delay > deadline:
                raise ArchiveError(f"the job at {job_url} did not finish within {timeout:g} s (it is {phase})")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        return phase


def cancel_job(job_url: str, timeout: float) -> None:
    """Abort the job if it still runs, then delete it from the service."""
    with upstream(job_url, timeout), TimeoutSession(timeout) as session:
        running = job(job_url, session)
        if running.phase in ACTIVE_PHASES:
            running.abort()
        running.delete()


def job_results(job_url: str, timeout: float) -> ResultPage:
    """The result of a completed job; an ArchiveError with the service's message if it failed."""
    with upstream(job_url, timeout), TimeoutSession(timeout) as session, overflow_as_note():
        finished = job(job_url, session)
        phase = finished.phase
        if phase in {"ERROR", "ABORTED"}:
            finished.raise_if_error()
        if phase != "COMPLETED":
            raise ArchiveError(f"the job at {job_url} has no result yet: it is {phase}")
        return result_page(finished.fetch_result())
