"""esap_core.testing: a pytest plugin that stays light, and a conformance suite that catches broken plugins."""

import math
import os
import subprocess
import sys
import time
from importlib.metadata import entry_points

import pytest

from esap_core import (
    Archive,
    ArchiveError,
    CheckResult,
    Column,
    DataItem,
    Facility,
    FacilityError,
    FacilityType,
    FieldType,
    HarvestProblem,
    Phase,
    QueryField,
    QueryKind,
    ResultPage,
    Settings,
    SoftwareRecord,
    SoftwareSource,
    StagingResult,
    UIType,
)
from esap_core.testing import (
    ConformanceError,
    RecordingReport,
    check_archive,
    check_facility_type,
    check_software_source,
    check_staging,
    launch_request,
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


class StagingStars(Stars):
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


class Scripted(FacilityType):
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

    def stop(self, facility, launch_id, user):
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
