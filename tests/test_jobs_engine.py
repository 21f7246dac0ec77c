"""The job engine against the real Slurm: submit, follow to the end, results into the basket, faults, the reaper."""

import json
from datetime import timedelta

import pytest

from esap_core import basket, jobs
from esap_core.hookspecs import JobPhase
from esap_core.models import Job, now
from tests.job_setup import reload, run_in_thread, run_job, submitted, wait_for


@pytest.fixture
def committed_config(slurm_config) -> dict:
    return slurm_config


def test_a_notebook_job_runs_on_slurm_with_two_items_and_a_parameter(
    committed_app, slurm_esap, job_owner, job_software, two_basket_items
):
    job = submitted(
        committed_app,
        job_owner,
        software_id=job_software,
        facility_name="slurm",
        parameters={"scale": 3},
        api_url=slurm_esap.url,
    )
    assert job.phase == "PENDING" and job.notebook == "notebooks/sum.ipynb"  # the record's own notebook
    assert [item["identifier"] for item in job.data] == ["ivo://test/first", "ivo://test/second"]
    assert job.software["repository_url"].endswith("job-analysis.git") and job.options["time_limit"] >= 1

    done = run_job(committed_app, job.id, slurm_esap.url)

    assert done.phase == "COMPLETED", f"{done.message}\n{done.log}"
    seen = [entry["phase"] for entry in done.phases]
    assert seen[0] == "PENDING" and seen[-1] == "COMPLETED" and "QUEUED" in seen
    assert all(entry["at"] for entry in done.phases) and done.finished >= done.started
    assert done.remote_id.endswith(f":{job.id}") and done.details["commit"]  # Slurm's id and the job's folder
    assert {result["name"] for result in done.results} == {"sum.ipynb", "summary.json"}
    assert "the job is done" in done.log

    with committed_app.test_request_context():
        job = reload(committed_app, job.id)
        _, stream = jobs.open_result(job, "summary.json")
        summary = json.loads(b"".join(jobs.chunks(stream)))
        assert summary == {"items": ["ivo://test/first", "ivo://test/second"], "total": 19.5, "scale": 3}
        assert jobs.add_result_to_basket(job_owner, job, "summary.json", slurm_esap.url) == 1
        assert jobs.add_result_to_basket(job_owner, job, "summary.json", slurm_esap.url) == 0  # once
        item = [item for item in basket.all_items(job_owner) if item.archive == jobs.ARCHIVE][0]
        assert item.fetch == {"method": "esap", "url": f"{slurm_esap.url}/api/v1/jobs/{job.id}/results/summary.json"}
        assert item.payload["job"] == job.id and item.payload["commit"] == done.details["commit"]
        with pytest.raises(jobs.JobProblem, match="no result named 'nothing.txt'"):
            jobs.add_result_to_basket(job_owner, job, "nothing.txt", slurm_esap.url)


def test_a_failing_script_ends_in_error_with_its_message(committed_app, slurm_esap, job_owner, job_software):
    job = submitted(
        committed_app, job_owner, software_id=job_software, facility_name="slurm", command="bash fail.sh", item_ids=[]
    )

    done = run_job(committed_app, job.id, slurm_esap.url)

    assert done.phase == "ERROR"
    assert done.message.startswith("The job failed in its 'run' step (exit code 3)"), done.message
    assert "the input is bad" in done.log and done.results == []
    assert done.finished is not None


def test_whoever_sees_a_job_ended_sees_its_log_too(committed_app, slurm_esap, job_owner, job_software, monkeypatch):
    """The log is kept before the end: a client that reads it once the phase is final (as ``Jobs.wait`` does)."""
    import time

    from esap_slurm.facility import SlurmFacility

    real_log = SlurmFacility.log

    def slow_log(self, *args, **kwargs):  # a busy shared file system: the log takes a while to read
        time.sleep(1.5)
        return real_log(self, *args, **kwargs)

    monkeypatch.setattr(SlurmFacility, "log", slow_log)
    job = submitted(
        committed_app, job_owner, software_id=job_software, facility_name="slurm", command="bash fail.sh", item_ids=[]
    )
    follower = run_in_thread(committed_app, job.id, slurm_esap.url)

    ended = wait_for(committed_app, job.id, {"COMPLETED", "ERROR", "ABORTED"}, timeout=180)  # polls every 0.5 s
    follower.join(timeout=60)

    assert ended.phase == "ERROR" and "the input is bad" in ended.log


def test_a_running_job_is_cancelled(committed_app, slurm_esap, job_owner, job_software):
    job = submitted(
        committed_app, job_owner, software_id=job_software, facility_name="slurm", command="bash sleep.sh", item_ids=[]
    )
    follower = run_in_thread(committed_app, job.id, slurm_esap.url)
    running = wait_for(committed_app, job.id, {"EXECUTING", "ERROR", "COMPLETED"}, timeout=120)
    assert running.phase == "EXECUTING", running.message

    with committed_app.app_context():
        jobs.cancel(reload(committed_app, job.id))
    follower.join(timeout=60)

    assert not follower.is_alive()
    done = reload(committed_app, job.id)
    assert done.phase == "ABORTED" and done.message == "Cancelled by you"
    with committed_app.app_context(), pytest.raises(jobs.NotCancellable, match=r"has ended \(ABORTED\)"):
        jobs.cancel(done)


@pytest.mark.parametrize(
    "choices, message",
    [
        ({"facility_name": "nowhere"}, "There is no facility named 'nowhere'"),
        ({"facility_name": "hub"}, "A hub does not run jobs"),
        ({"parameters": {"1x": 2}}, "'1x' is not a parameter name"),
        ({"parameters": {"scale": [1, 2]}}, "The parameter scale must be text"),
        ({"options": {"time_limit": 0}}, "Time limit (minutes) must be at least 1"),
        ({"options": {"queue": "fast"}}, "Unknown option queue; known: time_limit, cpus, memory_mb"),
        ({"item_ids": [99999]}, "Your basket has no data items with ids 99999"),
        ({"command": "ls", "notebook": "a.ipynb"}, "a command or a notebook, not both"),
        ({"software_id": 99999}, "There is no software with id 99999"),
        ({"software_id": None}, "runs software from the catalogue"),
    ],
)
def test_bad_choices_are_refused_and_nothing_is_kept(
    committed_app, slurm_esap, job_owner, job_software, choices, message
):
    given = {"software_id": job_software, "facility_name": "slurm", **choices}
    with pytest.raises(jobs.JobProblem) as refused:
        submitted(committed_app, job_owner, **given)
    assert message in str(refused.value)
    with committed_app.app_context():
        assert committed_app.extensions["esap.db"].session.query(Job).count() == 0
        assert committed_app.extensions["esap.queue"].queue().count == 0


def test_the_reaper_ends_a_job_its_facility_lost_and_follows_one_it_still_runs(
    committed_app, slurm_esap, job_owner, job_software
):
    lost = submitted(committed_app, job_owner, software_id=job_software, facility_name="slurm", command="ls")
    never = submitted(committed_app, job_owner, software_id=job_software, facility_name="slurm", command="ls")
    running = submitted(
        committed_app, job_owner, software_id=job_software, facility_name="slurm", command="bash sleep.sh"
    )
    follower = run_in_thread(committed_app, running.id, slurm_esap.url)
    assert wait_for(committed_app, running.id, {"EXECUTING"}).phase == "EXECUTING"
    with committed_app.app_context():
        db = committed_app.extensions["esap.db"].session
        queue = committed_app.extensions["esap.queue"].queue()
        queue.empty()  # their followers are gone: a lost queue
        long_ago = now() - timedelta(minutes=10)
        for job_id, remote in ((lost.id, f"987654:{lost.id}"), (never.id, ""), (running.id, None)):
            job = db.get(Job, job_id)
            job.heartbeat, job.phase = long_ago, "QUEUED" if remote else job.phase
            job.remote_id = job.remote_id if remote is None else remote
        db.commit()
        assert jobs.reap() == 3
        follower.join(timeout=1)  # the old follower still runs here, as a stuck one might

        assert reload(committed_app, lost.id).phase == "ERROR"
        assert f"Test Slurm lost the job 987654:{lost.id}" in reload(committed_app, lost.id).message
        assert reload(committed_app, never.id).phase == "ERROR"
        assert "never reached its facility" in reload(committed_app, never.id).message
        assert reload(committed_app, running.id).phase == "EXECUTING"  # still running: a new follower takes it
        assert [job.args[:2] for job in queue.jobs] == [("esap_core.jobs.run", running.id)]
        jobs.cancel(reload(committed_app, running.id))
    follower.join(timeout=60)
    assert reload(committed_app, running.id).phase == "ABORTED"


def test_a_final_phase_is_never_left(committed_app, slurm_esap, job_owner, job_software):
    job = submitted(committed_app, job_owner, software_id=job_software, facility_name="slurm", command="ls")
    with committed_app.app_context():
        jobs.cancel(reload(committed_app, job.id))
        assert reload(committed_app, job.id).message == "Cancelled by you before it was submitted"
        assert jobs.run(job.id, slurm_esap.url) == "gone"
    assert reload(committed_app, job.id).phase == JobPhase.ABORTED.value
