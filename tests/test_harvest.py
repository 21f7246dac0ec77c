"""Harvests through the core: the OSSR plugin against the local Zenodo, full and incremental, counted and kept."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import esap_ossr.plugin
import pytest
from sqlalchemy import func, select, text

from esap_core import HarvestError, HarvestProblem, SoftwareRecord, SoftwareSource, catalogue, harvest, hookimpl
from esap_core.db import session
from esap_core.models import PluginState, Software

OSSR_RECORDS = 37
SCRIPT_CONCEPT = "10000270"


@pytest.fixture
def zenodo(zenodo_server):
    zenodo_server.reset()
    yield zenodo_server
    zenodo_server.reset()


@pytest.fixture
def ossr_app(app_factory, zenodo):
    app = app_factory(
        extra_plugins=[("ossr", esap_ossr.plugin)],
        plugins={"ossr": {"zenodo_url": zenodo.base_url, "timeout": 1}},
    )
    with app.app_context():
        yield app


def stored(_db=None, source="ossr") -> int:
    # read through the app's session: the test's own session would interleave savepoints with it
    return session().scalar(select(func.count()).select_from(Software).where(Software.source == source))


def test_a_full_then_an_incremental_harvest(ossr_app, zenodo, db):
    first = harvest.run("ossr")
    assert (first.status, first.full, first.since) == ("ok", True, None)
    assert (first.seen, first.new, first.updated, first.unchanged, first.removed) == (OSSR_RECORDS, 37, 0, 0, 0)
    assert first.failed == 3  # two broken codemeta.json and the slow one: counted, and kept
    assert all(problem["kept"] for problem in first.problems)
    assert any("not JSON" in problem["reason"] for problem in first.problems)
    assert stored(db) == OSSR_RECORDS
    found = catalogue.search(catalogue.Query(text="gammapy"), None)
    assert "https://github.com/gammapy/gammapy" in [r.repository_url for r in found.records[:3]]
    if session().get_bind().dialect.name == "sqlite":  # the planner has the catalogue's statistics
        assert session().scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'software'")) > 0

    zenodo.update_record(10000011, description="<p>Gammapy, <em>now</em> faster.</p>")
    viewer = {k: v for k, v in zenodo.entry(10000151).items() if k not in ("created", "updated")}
    zenodo.add_record({**viewer, "id": 10000951, "conceptrecid": 10000950, "title": "New viewer"})
    second = harvest.run("ossr")
    assert (second.status, second.full, second.since) == ("ok", False, first.started)
    assert (second.seen, second.new, second.updated, second.removed) == (2, 1, 1, 0)
    assert stored(db) == OSSR_RECORDS + 1
    assert (
        session().scalar(select(Software.description).where(Software.external_id == "10000009"))
        == "Gammapy, now faster."
    )
    state = harvest.last("ossr")
    assert state["last_success"] == second.started and state["last"]["new"] == 1


def test_a_full_harvest_skips_unchanged_records_by_fingerprint_and_removes_deleted_ones(ossr_app, zenodo, db):
    harvest.run("ossr")
    zenodo.delete_record(10000011)
    again = harvest.run("ossr", full=True)
    assert (again.seen, again.new, again.updated, again.unchanged) == (36, 0, 0, 36)
    assert again.removed == 1 and stored(db) == 36
    assert session().scalar(select(Software).where(Software.external_id == "10000009")) is None


def test_a_zenodo_error_page_fails_the_harvest_and_keeps_the_catalogue(ossr_app, zenodo, db):
    good = harvest.run("ossr")
    with zenodo.search_fails(502):
        failed = harvest.run("ossr", full=True)
    assert failed.status == "failed" and "answered HTTP 502: Bad Gateway" in failed.error
    assert failed.removed == 0 and stored(db) == OSSR_RECORDS
    state = harvest.last("ossr")
    assert state["last"]["status"] == "failed" and state["last_success"] == good.started
    after = harvest.run("ossr")  # incremental again, from the last success
    assert after.since == good.started and after.status == "ok"


def test_the_script_record_is_stored_as_text(ossr_app, db):
    harvest.run("ossr")
    record = session().scalar(select(Software).where(Software.external_id == SCRIPT_CONCEPT))
    assert record.name == "<img src=x onerror=alert(4)>viewer"  # text: the pages escape it
    assert "<" not in record.description


class Awkward(SoftwareSource):
    name = "awkward"
    title = "Awkward"

    def __init__(self, ending: Exception | None = None):
        self.ending = ending

    def harvest(self, since):
        yield SoftwareRecord(external_id="ok", name="Fine")
        yield HarvestProblem("lost", "could not read it")
        yield SoftwareRecord(external_id="bad-ui", name="Odd", ui_type="hologram")
        yield "not a record"
        yield SoftwareRecord(external_id="", name="no id")
        if self.ending:
            raise self.ending
        yield SoftwareRecord(external_id="late", name="Late")


def awkward_plugin(ending=None):
    class Plugin:
        @hookimpl
        def register_software_sources(self, register):
            register(Awkward(ending))

    return Plugin()


@pytest.mark.parametrize(
    ("ending", "status", "error", "detail"),
    [
        (None, "ok", "", ""),
        (HarvestError("the catalogue is closed", "HTTP 503"), "failed", "the catalogue is closed", "HTTP 503"),
        (
            KeyError("oops"),
            "failed",
            "the source failed unexpectedly: its plugin may have a problem",
            "KeyError: 'oops'",
        ),
    ],
)
def test_a_sources_bad_records_and_failures_are_counted_never_raised(app_factory, db, ending, status, error, detail):
    app = app_factory(extra_plugins=[("awkward", awkward_plugin(ending))])
    with app.app_context():
        outcome = harvest.run("awkward")
        assert stored(source="awkward") == outcome.new
    assert (outcome.status, outcome.error) == (status, error)
    assert outcome.detail == detail  # the technical side, apart from the plain words
    assert outcome.failed == 4 and outcome.new == (1 if ending else 2)
    reasons = {p["external_id"]: p["reason"] for p in outcome.problems}
    assert reasons["lost"] == "could not read it" and "unknown UI type" in reasons["bad-ui"]


def test_the_schedule(ossr_app):
    assert "ossr" in harvest.due() and "blank-notebook" in harvest.due()  # never harvested
    harvest.run("blank-notebook")
    assert "blank-notebook" not in harvest.due()
    assert "blank-notebook" in harvest.due(datetime.now(UTC) + timedelta(hours=25))  # daily by default
    harvest.set_schedule("blank-notebook", 0)
    assert "blank-notebook" not in harvest.due(datetime.now(UTC) + timedelta(days=400))
    with pytest.raises(ValueError, match="from 0"):
        harvest.set_schedule("ossr", -1)
    with pytest.raises(harvest.HarvestUnavailable, match="no software source 'nope'"):
        harvest.set_schedule("nope", 1)


def test_a_harvest_job_runs_in_a_worker_with_progress_in_redis(
    committed_app, database_url, redis_url, zenodo, tmp_path
):
    config = tmp_path / "esap.toml"
    config.write_text(f'[plugins.ossr]\nzenodo_url = "{zenodo.base_url}"\ntimeout = 1\n')
    environment = dict(
        os.environ,
        ESAP_CONFIG=str(config),
        ESAP_DATABASE_URL=database_url,
        ESAP_REDIS_URL=committed_app.extensions["esap.queue"].url(),
        ESAP_INSTANCE_PATH=str(tmp_path / "worker"),
        ESAP_LOAD_PLUGINS="ossr",
    )
    app = committed_app
    app.extensions["esap.plugins"].software_sources["ossr"] = esap_ossr.plugin.OSSRSource(
        esap_ossr.plugin.OSSRConfig(zenodo_url=zenodo.base_url, timeout=1)
    )
    with app.app_context():
        job_id = harvest.start("ossr")
        assert harvest.progress("ossr")["status"] == "queued"
        with pytest.raises(harvest.HarvestUnavailable, match="under way already"):
            job_id = harvest.start("ossr")
    worker = subprocess.run(
        [sys.executable, "-m", "esap_core.cli", "worker", "--burst"], env=environment, capture_output=True, timeout=120
    )
    from rq.job import Job

    job = Job.fetch(job_id, connection=app.extensions["esap.queue"].connection())
    assert job.get_status() == "finished", (worker.stderr.decode()[-3000:], job.exc_info)
    with app.app_context():
        done = harvest.progress("ossr")
        assert (done["status"], done["seen"], done["new"], done["failed"]) == ("ok", OSSR_RECORDS, 37, 3)
        assert harvest.last("ossr")["last"]["finished"] == done["finished"]
        assert catalogue.count("ossr") == OSSR_RECORDS

    # and from the command line, incrementally: nothing changed
    result = subprocess.run(
        [sys.executable, "-m", "esap_core.cli", "harvest", "ossr"], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ossr: ok: 0 seen, 0 new, 0 updated, 0 unchanged, 0 failed, 0 removed"
    failing = subprocess.run(
        [sys.executable, "-m", "esap_core.cli", "harvest", "nope"], env=environment, capture_output=True, text=True
    )
    assert failing.returncode == 2 and "no software source 'nope'" in failing.stderr


def test_kept_state_is_plugin_state(ossr_app, db):
    harvest.run("blank-notebook")
    row = session().get(PluginState, (harvest.STATE_PLUGIN, "blank-notebook"))
    assert row.value["last"]["new"] == 1 and row.value["last"]["status"] == "ok"


class Flaky(SoftwareSource):
    name = "flaky"
    title = "Flaky"
    failing = False

    def harvest(self, since):
        yield SoftwareRecord(external_id="a", name="Always there")
        if self.failing:
            yield HarvestProblem("b", "timed out this time")
        else:
            yield SoftwareRecord(external_id=" b ", name="Sometimes unreadable")


def test_a_record_unread_in_a_full_harvest_is_kept_not_removed(app_factory):
    source = Flaky()

    class Plugin:
        @hookimpl
        def register_software_sources(self, register):
            register(source)

    app = app_factory(extra_plugins=[("flaky", Plugin())])
    with app.app_context():
        assert harvest.run("flaky", full=True).new == 2
        source.failing = True
        outcome = harvest.run("flaky", full=True)
        assert (outcome.seen, outcome.unchanged, outcome.failed, outcome.removed) == (2, 1, 1, 0)
        assert stored(source="flaky") == 2
        source.harvest = lambda since: iter([SoftwareRecord(external_id="a", name="Always there")])
        assert harvest.run("flaky", full=True).removed == 1  # gone from the source: gone from the catalogue
