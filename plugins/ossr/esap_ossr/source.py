"""The OSSR software source: harvest a Zenodo community, one record's failure never stopping the rest.

Only the standard library and esap_core are imported here, so that loading the plugin stays cheap;
requests and eossr are imported when a harvest starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from esap_core import HarvestProblem, SoftwareRecord, SoftwareSource

log = logging.getLogger(__name__)

DEFAULT_ZENODO_URL = "https://zenodo.org"
# Zenodo's clock and ours differ, and a record edited while the last harvest ran must not be missed:
# records updated up to this long before ``since`` are fetched again (ESAP skips them if unchanged).
SINCE_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class OSSRConfig:
    """The plugin's settings, checked once at start-up."""

    community: str = "escape2020"
    zenodo_url: str = DEFAULT_ZENODO_URL
    timeout: float = 30.0
    concurrency: int = 4
    page_size: int = 25
    types: tuple[str, ...] = ("software",)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OSSRConfig:
        known = {"community", "zenodo_url", "timeout", "concurrency", "page_size", "types"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown OSSR setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        config = cls(
            community=str(settings.get("community", cls.community)).strip(),
            zenodo_url=str(settings.get("zenodo_url", cls.zenodo_url)).strip().rstrip("/"),
            timeout=_number(settings, "timeout", cls.timeout, 0.1, 600),
            concurrency=int(_number(settings, "concurrency", cls.concurrency, 1, 32, integer=True)),
            page_size=int(_number(settings, "page_size", cls.page_size, 1, 25, integer=True)),
            types=_types(settings.get("types", cls.types)),
        )
        url = urlsplit(config.zenodo_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"OSSR setting zenodo_url must be an http(s) URL, not {config.zenodo_url!r}")
        if not config.community:
            raise ValueError("OSSR setting community must not be empty")
        return config


def _number(
    settings: Mapping[str, Any], key: str, default: float, low: float, high: float, integer: bool = False
) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and value != int(value)):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"OSSR setting {key} must be {kind}, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"OSSR setting {key} must be between {low:g} and {high:g}, not {value!r}")
    return value


def _types(value: Any) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value)
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValueError(f"OSSR setting types must be a list of Zenodo resource types, not {value!r}")
    return tuple(v.strip().lower() for v in values)


@dataclass(frozen=True)
class RecordFailure:
    """Why one record could not be read fully; ``kept`` says whether it was still yielded."""

    record_id: str
    reason: str
    kept: bool


@dataclass
class HarvestReport:
    """What one harvest saw: ESAP reads it from ``OSSRSource.last_report`` once the harvest ends.

    ``failed`` counts records with a failure, kept or not: a record whose codemeta.json is broken or
    too slow is still yielded from its Zenodo metadata (``kept``); one Zenodo itself describes
    unusably (no id, no title) is not.
    """

    started: datetime
    since: datetime | None = None
    seen: int = 0  # records the community search listed
    yielded: int = 0
    unchanged: int = 0  # not updated since the last harvest, skipped
    without_codemeta: int = 0  # no codemeta.json at all: listed from Zenodo's metadata
    failures: list[RecordFailure] = field(default_factory=list)
    finished: datetime | None = None
    error: str = ""  # why the harvest as a whole stopped, if it did

    @property
    def failed(self) -> int:
        return len(self.failures)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (dates in ISO 8601)."""
        values = {**asdict(self), "failed": self.failed}
        for key in ("started", "since", "finished"):
            values[key] = values[key].isoformat() if values[key] else None
        return values

    def summary(self) -> str:
        text = (
            f"{self.seen} records seen, {self.yielded} harvested, {self.unchanged} unchanged, "
            f"{self.without_codemeta} without codemeta.json, {self.failed} failed"
        )
        return f"{text}; stopped: {self.error}" if self.error else text


class Harvest(Iterable[SoftwareRecord | HarvestProblem]):
    """The records and problems of one harvest (iterate once) and its report, filled in as they come."""

    def __init__(self, items: Iterator[SoftwareRecord | HarvestProblem], report: HarvestReport):
        self._items = items
        self.report = report

    def __iter__(self) -> Iterator[SoftwareRecord | HarvestProblem]:
        return self._items


class OSSRSource(SoftwareSource):
    """The OSSR: the software of a Zenodo community (``escape2020``), described by codemeta.json."""

    name = "ossr"
    title = "OSSR"
    description = "The ESCAPE Open-source Software and Service Repository, a community on Zenodo."

    def __init__(self, config: OSSRConfig):
        self.config = config
        # The report of the latest harvest; each harvest fills its own object, so a harvest running
        # in another thread never writes into the report a reader holds.
        self.last_report: HarvestReport | None = None

    def harvest(self, since: datetime | None) -> Harvest:
        """Yield the community's software and a problem per failed record; with ``since``, only what changed.

        A record whose codemeta.json failed comes with a ``HarvestProblem`` (``kept=True``) beside it; one
        Zenodo describes unusably comes as a ``HarvestProblem`` alone. A failing search raises ESAP's
        ``HarvestError``.
        """
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        report = HarvestReport(started=datetime.now(UTC), since=since)
        self.last_report = report
        return Harvest(self._records(since, report), report)

    def _records(self, since: datetime | None, report: HarvestReport) -> Iterator[SoftwareRecord | HarvestProblem]:
        from esap_ossr.zenodo import ZenodoClient

        cutoff = since - SINCE_MARGIN if since else None
        client = ZenodoClient(self.config.zenodo_url, self.config.timeout)
        pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="ossr-codemeta")
        seen_ids: set[str] = set()
        try:
            for page in client.search(self.config.community, self.config.types, self.config.page_size):
                pending = []
                for hit in page:
                    record_id = str(hit.get("id", ""))[:64] if isinstance(hit, dict) else ""
                    if record_id and record_id in seen_ids:
                        continue  # the listing shifted between two pages
                    seen_ids.add(record_id)
                    report.seen += 1
                    if cutoff and _updated_before(hit, cutoff):
                        report.unchanged += 1
                        continue
                    pending.append((record_id, hit, pool.submit(client.codemeta, hit)))
                for record_id, hit, future in pending:
                    record, problem = self._record(record_id, hit, future, report)
                    if problem is not None:
                        yield problem
                    if record is not None:
                        report.yielded += 1
                        yield record
        except Exception as error:
            report.error = str(error)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            client.close()
            report.finished = datetime.now(UTC)
            log.info("OSSR harvest of %s: %s", self.config.zenodo_url, report.summary())

    def _record(
        self, record_id: str, hit: Any, future: Future, report: HarvestReport
    ) -> tuple[SoftwareRecord | None, HarvestProblem | None]:
        from esap_ossr.mapping import software_record

        codemeta, problem = None, ""
        try:
            codemeta = future.result()
        except Exception as error:  # one record's codemeta must never stop the harvest
            problem = f"codemeta.json: {_reason(error)}"
        try:
            record = software_record(hit, codemeta)
        except Exception as error:
            reason = f"unusable Zenodo record: {_reason(error)}"
            return None, self._fail(report, record_id, _concept_id(hit) or record_id, reason, kept=False)
        if problem:
            return record, self._fail(report, record_id, record.external_id, problem, kept=True)
        if codemeta is None:
            report.without_codemeta += 1
        return record, None

    @staticmethod
    def _fail(report: HarvestReport, record_id: str, external_id: str, reason: str, kept: bool) -> HarvestProblem:
        report.failures.append(RecordFailure(record_id or "?", reason, kept))
        log.warning("OSSR record %s: %s%s", record_id or "?", reason, "" if kept else " (record skipped)")
        return HarvestProblem(
            external_id=external_id or "?", reason=f"Zenodo record {record_id or '?'}: {reason}", kept=kept
        )


def _concept_id(hit: Any) -> str:
    """The id ESAP knows the record by (the concept record id), if Zenodo gave a usable one."""
    from esap_ossr.mapping import _identifier

    return _identifier(hit.get("conceptrecid")) if isinstance(hit, dict) else ""


def _updated_before(hit: dict, cutoff: datetime) -> bool:
    try:
        updated = datetime.fromisoformat(str(hit["updated"]))
    except (KeyError, ValueError):
        return False  # no usable date: fetch it, ESAP skips it if it did not change
    return (updated if updated.tzinfo else updated.replace(tzinfo=UTC)) < cutoff


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 300 else text[:300] + "…"
