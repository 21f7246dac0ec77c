"""esap_core.testing: a pytest plugin that stays light, and a conformance suite that catches broken plugins."""

import io
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from esap_core import (
    Archive,
    ArchiveError,
    CheckResult,
    Cluster,
    ClusterFacility,
    Column,
    DataItem,
    Facility,
    FacilityError,
    FieldType,
    HarvestProblem,
    JobFacility,
    JobPhase,
    JobResult,
    JobStatus,
    Phase,
    QueryField,
    QueryKind,
    ResultPage,
    Secret,
    SessionFacility,
    Settings,
    SoftwareRecord,
    SoftwareSource,
    StagingArchive,
    StagingResult,
    StopsSessions,
    UIType,
)
from esap_core.testing import (
    ConformanceError,
    RecordingReport,
    check_archive,
    check_cluster_facility,
    check_facility_type,
    check_job_facility,
    check_software_source,
    check_staging,
    job_request,
    launch_request,
    machine_lock,
)


def test_registered_as_a_pytest_plugin_that_imports_nothing_heavy():
    (entry,) = [entry for entry in entry_points(group="pytest11") if entry.name == "esap"]
    assert entry.value == "esap_core.testing"
    probe = "import sys, esap_core.testing\nprint(sorted({m.split('.')[0] for m in sys.modules}))"
    modules = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for heavy in ("flask", "sqlalchemy", "alembic", "rq", "redis", "requests", "esap_vo", "esap_rucio", "esap_ossr"):
        assert f"'{heavy}'" not in modules


def test_fixtures_name_a_plugin_that_is_not_installed(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nesap_plugin = "not-installed"\n')
    (tmp_path / "test_it.py").write_text("def test_app(esap_app):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "ESAP_LOAD_PLUGINS": "vo"},
        timeout=120,
    )
    assert result.returncode == 1
    assert "ESAP found no plugin 'not-installed'" in result.stdout


class Stars(Archive):
    name = "stars"
    title = "Stars"
    fields = (
        QueryField("keywords", "Name"),
        QueryField("limit", "Limit", FieldType.INTEGER, minimum=1, maximum=10),
    )
    answers = frozenset({QueryKind.KEYWORDS})

    def __init__(self, row=None, fetch=None, payload=None, columns=("name", "ra")):
        self.row = {"name": "Vega", "ra": 279.2} if row is None else row
        self.fetch = fetch or {"method": "http", "url": "https://example.org/vega.fits"}
        self.payload = payload or {}
        self.columns = [Column(name) for name in columns]

    def search(self, query, page, user, timeout):
        return ResultPage(self.columns, [self.row], page=page, page_size=10, total=1)

    def basket_item(self, row):
        return DataItem(identifier=f"stars:{row['name']}", title=row["name"], fetch=self.fetch, payload=self.payload)


def problems_of(check, *args, **kwargs) -> str:
    with pytest.raises(ConformanceError) as caught:
        check(*args, **kwargs)
    return str(caught.value)


def test_a_good_archive_passes_and_its_page_is_returned():
    page = check_archive(Stars(), {"keywords": "vega", "limit": 3})
    assert page.rows == [{"name": "Vega", "ra": 279.2}]


@pytest.mark.parametrize(
    ("archive", "query", "problem"),
    [
        (Stars(), {"colour": "red"}, "the query has 'colour', which is neither a field"),
        (Stars(), {"limit": 11}, "the query's 'limit': 11 is above the maximum 10"),
        (Stars(), {"limit": 2.5}, "the query's 'limit': 2.5 is not a whole number"),
        (Stars(row={"name": "Vega", "ra": math.nan}), {}, "row 0.ra: nan is not JSON"),
        (Stars(row={"name": "Vega", "dec": 1.0}), {}, "row 0 has keys that are not declared columns: dec"),
        (Stars(row={"name": "Vega", "ra": (1, 2)}), {}, "row 0.ra: tuple (1, 2) is not JSON"),
        (Stars(fetch={"url": "https://x"}), {}, "fetch has no method"),
        (Stars(fetch={"method": "tap", "service": "https://x"}), {}, "fetch method 'tap' needs 'adql'"),
        (Stars(fetch={"method": "rucio", "did": "nocolon", "host": "https://r"}), {}, "is not scope:name"),
        (Stars(fetch={"method": "http", "url": "file:///etc/passwd"}), {}, "is not an http(s) URL"),
        (Stars(payload={"data": "x" * 70000}), {}, "the payload is over 64 KiB"),
        (Stars(columns=("name", "name", "ra")), {}, "the column names repeat"),
    ],
)
def test_archive_problems_are_named(archive, query, problem):
    assert problem in problems_of(check_archive, archive, query)


def test_bad_fields_are_named():
    class BadFields(Stars):
        name = "bad fields"
        fields = (
            QueryField("colour", "Colour", FieldType.CHOICE),
            QueryField("colour", ""),
            QueryField("size", "Size", FieldType.NUMBER, default="big", minimum=5, maximum=1),
        )

    message = problems_of(check_archive, BadFields(), {})
    for problem in (
        "name 'bad fields' must be letters, digits, - and _",
        "'colour': a choice field needs choices",
        "'colour': the name is used twice",
        "'colour': give a label",
        "'size': minimum 5 is above maximum 1",
        "'size': default 'big' is not a number",
    ):
        assert problem in message


class StagingStars(Stars, StagingArchive):
    """Stages by answering what it was given to answer (or raising it)."""

    def __init__(self, answer=None, pause=0.0):
        super().__init__()
        self.answer, self.pause = answer, pause

    def stage(self, items, storage, user, timeout):
        time.sleep(self.pause)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer or StagingResult(
            "ready", "in place", {i.identifier: f"/{storage}/{i.identifier}" for i in items}
        )


VEGA = DataItem(identifier="stars:Vega", title="Vega", fetch={"method": "http", "url": "https://example.org/vega.fits"})


def test_good_staging_passes_and_a_refusal_is_let_through():
    assert check_staging(StagingStars(), [VEGA], "DISK").paths == {"stars:Vega": "/DISK/stars:Vega"}
    with pytest.raises(ArchiveError, match="no such storage"):
        check_staging(StagingStars(ArchiveError("no such storage")), [VEGA], "NOWHERE")


@pytest.mark.parametrize(
    ("archive", "timeout", "problem"),
    [
        (Stars(), 5, "it does not implement stage"),
        (StagingStars(StagingResult("done")), 5, "state 'done' is not one of ready, pending, failed"),
        (StagingStars(StagingResult("ready", paths={"stars:Deneb": "/x"})), 5, "names 'stars:Deneb', which was not"),
        (StagingStars(StagingResult("ready", paths={"stars:Vega": ""})), 5, "the path of 'stars:Vega' is ''"),
        (StagingStars({"state": "ready"}), 5, "stage returned dict, not an esap_core.StagingResult"),
        (StagingStars(KeyError("rse")), 5, "stage raised KeyError: 'rse'; raise esap_core.ArchiveError instead"),
        (StagingStars(pause=0.3), 0.1, "with a timeout of 0.1 s"),
    ],
)
def test_staging_problems_are_named(archive, timeout, problem, monkeypatch):
    monkeypatch.setattr("esap_core.testing.conformance.STAGING_GRACE", 0.0)
    assert problem in problems_of(check_staging, archive, [VEGA], "DISK", timeout=timeout)


class Catalogue(SoftwareSource):
    name = "catalogue"
    title = "Catalogue"

    def __init__(self, *yielded):
        self.yielded = yielded

    def harvest(self, since):
        yield from self.yielded


def record(external_id="a", **fields):
    return SoftwareRecord(external_id=external_id, name=f"Tool {external_id}", **fields)


def test_a_good_source_passes():
    records = check_software_source(Catalogue(record("a"), record("b"), HarvestProblem("b", "no licence", kept=True)))
    assert [r.external_id for r in records] == ["a", "b"]


@pytest.mark.parametrize(
    ("yielded", "problem"),
    [
        ((record("a"), record("a")), "the external id 'a' is yielded twice"),
        ((record("a"), {"name": "x"}), "item 1 of the harvest is dict, not a SoftwareRecord"),
        ((record("a", ui_type="gui"),), "ui_type 'gui' is not an esap_core.UIType"),
        ((record("a", authors=["Ann"]),), "authors must be a tuple of strings"),
        ((record("a", repository_url="git@host:x.git"),), "is not an http(s) URL"),
        ((record(""),), "external_id must be a non-empty string"),
        ((HarvestProblem("z", "broken", kept=True),), "says 'z' was kept, but no such record was yielded"),
        ((record("a"), HarvestProblem("a", "broken")), "says 'a' was left out, but it was yielded"),
    ],
)
def test_source_problems_are_named(yielded, problem):
    assert problem in problems_of(check_software_source, Catalogue(*yielded))


class Scripted(StopsSessions):
    """A facility type that plays back a list of report calls, then maybe raises."""

    kind = "scripted"
    title = "Scripted"
    accepts = frozenset({UIType.NOTEBOOK})

    def __init__(self, *calls, raises=None):
        self.calls, self.raises = calls, raises
        self.stopped = []

    def check(self, facility, timeout):
        return CheckResult(up=True, message="fine")

    def launch(self, facility, request, report):
        for method, *args in self.calls:
            getattr(report, method)(*args)
        if self.raises:
            raise self.raises

    def stop(self, facility, launch_id, user, details=None):
        self.stopped.append(launch_id)


FACILITY = Facility("here", "scripted", "https://here.example.org/", Settings("here", {}))


def test_a_good_launch_passes_and_is_stopped():
    facility_type = Scripted(
        ("phase", Phase.BUILDING, "build", 10),
        ("phase", Phase.BUILDING, "build", 100),
        ("log", "built"),
        ("phase", Phase.LAUNCHING),
        ("detail",),
        ("ready", "https://here.example.org/session"),
    )
    request = launch_request()
    report = check_facility_type(facility_type, FACILITY, request)
    assert report.phases == [Phase.BUILDING, Phase.LAUNCHING] and report.lines == ["built"]
    assert facility_type.stopped == [request.launch_id]


def test_a_facility_error_is_a_proper_ending():
    facility_type = Scripted(("phase", Phase.WAITING), raises=FacilityError("the hub is full"))
    report = check_facility_type(facility_type, FACILITY, launch_request())
    assert report.ready_url is None and facility_type.stopped == []


@pytest.mark.parametrize(
    ("calls", "raises", "problem"),
    [
        ([("phase", Phase.LAUNCHING), ("phase", Phase.BUILDING)], None, "phase 'building' came after 'launching'"),
        ([("phase", Phase.LOADING, "", 150), ("ready", "https://x")], None, "progress 150 is not a percentage"),
        ([("phase", Phase.LOADING, "", 0.5)], None, "returned without report.ready(url) or report.failed"),
        ([("ready", "https://x"), ("ready", "https://y")], None, "the launch ended 2 times"),
        ([("failed", "no"), ("log", "later")], None, "reported log after failed()"),
        ([("phase", Phase.READY), ("ready", "https://x")], None, "not report.phase(Phase.READY)"),
        ([("ready", "ftp://x")], None, "is not an http(s) URL"),
        ([("ready", "https://x")], FacilityError("late"), "called ready() and then raised FacilityError"),
        ([], ValueError("oops"), "launch raised ValueError: oops; raise esap_core.FacilityError instead"),
    ],
)
def test_launch_problems_are_named(calls, raises, problem):
    assert problem in problems_of(check_facility_type, Scripted(*calls, raises=raises), FACILITY, launch_request())


def test_a_check_that_is_not_a_check_result_is_named():
    class Unchecked(Scripted):
        def check(self, facility, timeout):
            return True

    message = problems_of(check_facility_type, Unchecked(("ready", "https://x")), FACILITY, launch_request())
    assert "check returned bool, not an esap_core.CheckResult" in message


def test_software_the_type_does_not_accept_is_named():
    request = launch_request(software=record("t", ui_type=UIType.DESKTOP))
    message = problems_of(check_facility_type, Scripted(("ready", "https://x")), FACILITY, request)
    assert "the test's software is 'desktop', which this type does not accept" in message


def test_a_personal_token_label_that_is_not_text_is_named():
    scripted = Scripted(("ready", "https://x"))
    scripted.personal_token_label = None
    message = problems_of(check_facility_type, scripted, FACILITY, launch_request())
    assert "personal_token_label must be a string" in message


def test_the_recording_report_keeps_every_call():
    report = RecordingReport()
    report.phase(Phase.FETCHING, "fetching", 20)
    report.detail(commit="abc")
    report.failed("broke")
    assert report.calls[0] == ("phase", {"phase": Phase.FETCHING, "message": "fetching", "progress": 20})
    assert report.details == {"commit": "abc"} and report.failure == "broke" and report.problems() == []


class ScriptedJobs(JobFacility):
    """A job facility that plays back a list of statuses and results; each keyword breaks one rule."""

    kind = "scripted-jobs"
    title = "Scripted jobs"
    accepts = frozenset({UIType.CLI})

    def __init__(self, statuses=None, results=None, contents=None, **breaks):
        done = JobStatus(JobPhase.COMPLETED, "done", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
        self.statuses = list(statuses or [JobStatus(JobPhase.QUEUED), JobStatus(JobPhase.EXECUTING), done])
        self.results_list = results if results is not None else [JobResult("out.txt", 5, "text/plain")]
        self.contents = contents or {"out.txt": b"hello"}
        self.breaks = breaks
        self.submitted = []

    def check(self, facility, timeout):
        return CheckResult(up=True, message="fine")

    def job_fields(self, facility, timeout):
        return self.breaks.get("job_fields", (QueryField("n", "Count", FieldType.INTEGER, minimum=1),))

    def submit(self, facility, request, timeout):
        self.submitted.append(request)
        return self.breaks.get("job_id", "job-1")

    def status(self, facility, job, user, timeout):
        if "status_raises" in self.breaks:
            raise self.breaks["status_raises"]
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def log(self, facility, job, user, timeout, tail=65536):
        return self.breaks.get("log", "a log")[-tail:] if "log_too_long" not in self.breaks else "x" * (tail + 1)

    def cancel(self, facility, job, user, timeout):
        if not self.breaks.get("cancel_returns"):
            raise FacilityError("the job has ended")

    def results(self, facility, job, user, timeout):
        return self.results_list

    def open_result(self, facility, job, name, user, timeout, max_bytes=1024**3):
        if name not in self.contents and not self.breaks.get("opens_anything"):
            raise FacilityError(f"no result named {name!r}")
        content = self.contents.get(name, b"secret")
        if len(content) > max_bytes and not self.breaks.get("ignores_bound"):
            raise FacilityError("too large")
        return io.BytesIO(content)


def test_a_good_job_facility_passes_and_the_run_is_returned():
    facility_type = ScriptedJobs()
    request = job_request(command="run", parameters={"n": 2})

    run = check_job_facility(facility_type, FACILITY, request, timeout=10)

    assert run.job == "job-1" and run.phases == [JobPhase.QUEUED, JobPhase.EXECUTING, JobPhase.COMPLETED]
    assert run.contents == {"out.txt": b"hello"} and run.log == "a log"
    assert facility_type.submitted == [request]


def test_a_result_past_the_bound_may_be_listed_when_opening_it_is_refused():
    facility_type = ScriptedJobs(results=[JobResult("big.bin", 10)], contents={"big.bin": b"0123456789"})

    run = check_job_facility(facility_type, FACILITY, job_request(command="run", max_result_bytes=5), timeout=10)

    assert run.contents == {}


def test_a_facility_error_from_submit_is_let_through():
    class Refusing(ScriptedJobs):
        def submit(self, facility, request, timeout):
            raise FacilityError("the queue is closed")

    with pytest.raises(FacilityError, match="the queue is closed"):
        check_job_facility(Refusing(), FACILITY, job_request(command="run"), timeout=10)


def naive(moment):
    return moment.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("facility_type", "request_values", "problem"),
    [
        (ScriptedJobs(), {"parameters": {"colour": "red"}}, "parameters has 'colour', which the facility does not"),
        (ScriptedJobs(), {"parameters": {"n": 0}}, "parameters 'n': 0 is below the minimum 1"),
        (ScriptedJobs(), {"options": {"queue": "fast"}}, "options has 'queue', which the facility does not declare"),
        (ScriptedJobs(job_fields=()), {"parameters": {"a b": 1}}, "free parameters are identifiers"),
        (ScriptedJobs(job_fields=(QueryField("n", ""),)), {}, "job_fields[0] 'n': give a label"),
        (ScriptedJobs(job_id=""), {}, "submit returned '', not a job id"),
        (ScriptedJobs(statuses=[JobStatus(JobPhase.UNKNOWN, "lost")]), {}, "status is UNKNOWN for the job it just"),
        (ScriptedJobs(statuses=[JobStatus("DONE")]), {}, "phase 'DONE' is not an esap_core.JobPhase"),
        (ScriptedJobs(statuses=[{"phase": "COMPLETED"}]), {}, "status: returned dict, not an esap_core.JobStatus"),
        (
            ScriptedJobs(statuses=[JobStatus(JobPhase.COMPLETED, started=naive(datetime.now(UTC)))]),
            {},
            "started datetime.datetime(",
        ),
        (
            ScriptedJobs(statuses=[JobStatus(JobPhase.COMPLETED, details={"node": {1, 2}})]),
            {},
            "details.node: set {1, 2} is not JSON",
        ),
        (
            ScriptedJobs(statuses=[JobStatus(JobPhase.ERROR), JobStatus(JobPhase.EXECUTING)]),
            {},
            "status went from ERROR, a final phase, to EXECUTING",
        ),
        (
            ScriptedJobs(statuses=[JobStatus(JobPhase.EXECUTING)]),
            {},
            "the job did not end within 1 s (it is EXECUTING)",
        ),
        (
            ScriptedJobs(status_raises=FacilityError("lost")),
            {},
            "status raised FacilityError for a job that ran well",
        ),
        (ScriptedJobs(results=[JobResult("a"), JobResult("a")], contents={"a": b""}), {}, "result names repeat"),
        (ScriptedJobs(results=[JobResult("out.txt", 9)]), {}, "'out.txt' is listed with 9 bytes but gave 5"),
        (ScriptedJobs(results=[JobResult("gone.txt")]), {}, "open_result('gone.txt') raised FacilityError for a"),
        (ScriptedJobs(results=("out.txt",)), {}, "results returned ('out.txt',), not a list of"),
        (ScriptedJobs(opens_anything=True), {}, "open_result gave a stream for '../esap-conformance'"),
        (
            ScriptedJobs(results=[JobResult("big", 10)], contents={"big": b"0123456789"}, ignores_bound=True),
            {"max_result_bytes": 5},
            "open_result('big') streams a result of 10 bytes, past 5",
        ),
        (ScriptedJobs(log_too_long=True), {}, "log(tail=1000) returned str of 1001 characters"),
        (ScriptedJobs(cancel_returns=True), {}, "cancel of a job that has ended returned"),
    ],
)
def test_job_facility_problems_are_named(facility_type, request_values, problem):
    request = job_request(command="run", **request_values)
    assert problem in problems_of(check_job_facility, facility_type, FACILITY, request, timeout=1)


def test_a_session_facility_is_not_a_job_facility():
    message = problems_of(check_job_facility, Scripted(), FACILITY, job_request(command="run"))
    assert "is not an esap_core.JobFacility: it cannot run jobs" in message


def test_a_job_facility_that_raises_the_wrong_error_is_named():
    class Crashing(ScriptedJobs):
        def results(self, facility, job, user, timeout):
            raise KeyError("output")

    message = problems_of(check_job_facility, Crashing(), FACILITY, job_request(command="run"), timeout=5)
    assert "results raised KeyError: 'output'; raise esap_core.FacilityError instead" in message


def test_software_the_job_facility_does_not_accept_is_named():
    request = job_request(software=record("nb", ui_type=UIType.NOTEBOOK), notebook="a.ipynb")
    message = problems_of(check_job_facility, ScriptedJobs(), FACILITY, request)
    assert "the test's software is 'notebook', which this type does not accept" in message


PROBE_FLOCK = (
    "import fcntl, sys\n"
    "try:\n"
    "    fcntl.flock(open(sys.argv[1], 'w'), fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "    print('free')\n"
    "except BlockingIOError:\n"
    "    print('held')\n"
)


def lock_seen_by_another_process(path) -> str:
    return subprocess.run([sys.executable, "-c", PROBE_FLOCK, str(path)], capture_output=True, text=True).stdout.strip()


def test_the_machine_lock_keeps_other_sessions_out_and_lets_this_one_in_twice(tmp_path):
    path = tmp_path / "server.lock"
    with machine_lock(path, wait=5):
        assert lock_seen_by_another_process(path) == "held"
        started = time.monotonic()
        with machine_lock(path, wait=5):  # a second fixture of this session guarding the same server
            assert time.monotonic() - started < 1
            assert lock_seen_by_another_process(path) == "held"
        assert lock_seen_by_another_process(path) == "held"  # the outer holder still has it
    assert lock_seen_by_another_process(path) == "free"


def test_the_machine_lock_fails_the_test_when_another_session_keeps_it(tmp_path):
    path = tmp_path / "server.lock"
    hold = (
        "import fcntl, sys, time\n"
        "f = open(sys.argv[1], 'w')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(30)\n"
    )
    with subprocess.Popen([sys.executable, "-c", hold, str(path)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            with (
                pytest.raises(pytest.fail.Exception, match="another test session held .*server.lock for 1 s"),
                machine_lock(path, wait=1),
            ):
                pass
        finally:
            holder.kill()
    with machine_lock(path, wait=5):  # the failed attempt left nothing behind
        assert lock_seen_by_another_process(path) == "held"


def test_the_machine_locks_failure_names_the_session_that_holds_it(tmp_path):
    path = tmp_path / "server.lock"
    hold = (
        "import sys, time\n"
        "from esap_core.testing import machine_lock\n"
        "with machine_lock(sys.argv[1], wait=5):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(30)\n"
    )
    with subprocess.Popen([sys.executable, "-c", hold, str(path)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            with pytest.raises(pytest.fail.Exception) as failure, machine_lock(path, wait=1):
                pass
        finally:
            holder.kill()
    assert f"pid {holder.pid} in {Path.cwd()}" in str(failure.value)


class ScriptedCluster(SessionFacility, ClusterFacility):
    """A cluster facility that reports the calls it is given and returns ``cluster`` (or raises)."""

    kind = "scripted-cluster"
    title = "Scripted cluster"
    accepts = frozenset({UIType.NOTEBOOK})

    def __init__(self, *calls, cluster=None, named=None, raises=None, stop_raises=None):
        self.calls, self.named, self.raises, self.stop_raises = calls, named, raises, stop_raises
        self.cluster = cluster or Cluster(
            "c-1", "https://dask.example.org/clusters/c-1/status", {"kind": "dask"}, {"tls_key": Secret("k", "test")}
        )
        self.stopped = []

    def check(self, facility, timeout):
        return CheckResult(up=True, message="fine")

    def start_cluster(self, facility, request, report):
        report.phase(Phase.LAUNCHING, "requested", 0)
        report.detail(cluster=self.named or self.cluster.name)
        for method, *args in self.calls:
            getattr(report, method)(*args)
        if self.raises:
            raise self.raises
        return self.cluster

    def launch(self, facility, request, report):
        report.ready(self.start_cluster(facility, request, report).dashboard)

    def stop_cluster(self, facility, name, user):
        if self.stop_raises:
            raise self.stop_raises
        self.stopped.append(name)


def test_a_good_cluster_passes_and_is_stopped_twice():
    facility_type = ScriptedCluster(("phase", Phase.LAUNCHING, "workers joining: 1 of 1", 100))
    cluster = check_cluster_facility(facility_type, FACILITY, launch_request())
    assert cluster.name == "c-1" and facility_type.stopped == ["c-1", "c-1"]
    assert check_cluster_facility(ScriptedCluster(), FACILITY, launch_request(), stop=False).name == "c-1"


def test_a_refusal_to_start_a_cluster_is_let_through():
    with pytest.raises(FacilityError, match="no workers"):
        check_cluster_facility(ScriptedCluster(raises=FacilityError("no workers")), FACILITY, launch_request())


@pytest.mark.parametrize(
    ("facility_type", "problem"),
    [
        (ScriptedCluster(("ready", "https://x")), "start_cluster called report.ready()"),
        (ScriptedCluster(("failed", "no")), "start_cluster called report.failed()"),
        (ScriptedCluster(named="c-2"), "reported cluster='c-2', not the cluster's name 'c-1'"),
        (ScriptedCluster(cluster=Cluster("c-1", "ftp://x")), "the dashboard 'ftp://x' is neither empty nor an http"),
        (ScriptedCluster(cluster=Cluster("c-1", connection={})), "the connection has no kind"),
        (ScriptedCluster(cluster=Cluster("c-1", connection={"kind": "dask", "n": math.nan})), "connection.n: nan"),
        (
            ScriptedCluster(cluster=Cluster("c-1", credentials={"key": "plain"})),
            "'key' is str, not an esap_core.Secret",
        ),
        (ScriptedCluster(stop_raises=FacilityError("gone away")), "stop_cluster raised FacilityError: gone away"),
        (ScriptedCluster(raises=KeyError("x")), "start_cluster raised KeyError: 'x'; raise esap_core.FacilityError"),
    ],
)
def test_cluster_problems_are_named(facility_type, problem):
    assert problem in problems_of(check_cluster_facility, facility_type, FACILITY, launch_request())


def test_a_cluster_facility_that_is_no_cluster_facility_is_named():
    assert "is not an esap_core.ClusterFacility" in problems_of(
        check_cluster_facility, Scripted(("ready", "https://x")), FACILITY, launch_request()
    )


def test_a_cluster_on_its_own_is_stopped_by_its_name_however_the_launch_ended():
    ready = ScriptedCluster()
    check_facility_type(ready, FACILITY, launch_request())
    assert ready.stopped == ["c-1", "c-1"]
    failing = ScriptedCluster(raises=FacilityError("no workers"))
    check_facility_type(failing, FACILITY, launch_request())
    assert failing.stopped == ["c-1", "c-1"]


def test_a_cluster_launch_that_names_no_cluster_is_named():
    class Unnamed(ScriptedCluster):
        def start_cluster(self, facility, request, report):
            return self.cluster

    message = problems_of(check_facility_type, Unnamed(), FACILITY, launch_request())
    assert "the launch is ready but reported no cluster=<name>" in message


def test_the_settings_accessors_name_the_key_and_the_reason():
    from esap_core import Secret, Settings, SettingsError

    settings = Settings("facility:hub", {"token": "typed", "ref": Secret("x", "env:X"), "n": 0, "empty": ""})
    assert settings.secret("ref").reveal() == "x"
    assert settings.secret("absent") is None and settings.secret("empty") is None
    with pytest.raises(SettingsError, match="facility 'hub': setting 'absent' is required"):
        settings.secret("absent", required=True)
    with pytest.raises(SettingsError, match="facility 'hub': setting 'token' is a secret: reference it"):
        settings.secret("token")  # plain text: the core hands typed secrets over as Secret, never as text
    with pytest.raises(SettingsError, match="facility 'hub': setting 'n' must be a positive number"):
        settings.number("n", positive=True)
