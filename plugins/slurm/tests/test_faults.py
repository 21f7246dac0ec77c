"""Faults on the real Slurm end as a job in ERROR or a FacilityError with Slurm's own words, and nothing is lost."""

import pytest

from esap_core import FacilityError, JobPhase

SLEEPER = "echo started; sleep 120\n"


@pytest.fixture(scope="module")
def tools(git_server) -> str:
    return git_server.repository(
        "tools",
        {
            "fail.sh": "echo 'reading the catalogue'\necho 'the catalogue has no column flux' >&2\nexit 3\n",
            "sleep.sh": SLEEPER,
            "big.sh": 'head -c 2000000 /dev/zero > "$ESAP_OUTPUT/big.bin"\necho small > "$ESAP_OUTPUT/small.txt"\n',
        },
    )


def test_unknown_options_and_bad_parameters_are_refused_before_anything_is_sent(
    slurm_type, slurm_facility, make_job, tools
):
    # a socket that does not exist: a request would fail with "cannot be reached", not with these words
    facility = slurm_facility(socket="/nonexistent/slurmrestd.socket")
    cases = [
        (make_job(tools, command="bash fail.sh", options={"queue": "fast"}), "takes no option 'queue'"),
        (make_job(tools, command="bash fail.sh", options={"time_limit": 0}), "must be at least 1"),
        (make_job(tools, command="bash fail.sh", parameters={"not a name": 1}), "is not an identifier"),
        (make_job(tools, command="bash fail.sh", parameters={"table": [1, 2]}), "must be text, a number or true/false"),
        (make_job(tools, notebook="../outside.ipynb"), "is not a .ipynb path inside the repository"),
        (make_job(tools, command="true", notebook="a.ipynb"), "exactly one of a command and a notebook"),
        (make_job("file:///srv/repo.git", command="true"), "is not an http(s) git URL"),
        (make_job(tools, command="true", ref="--upload-pack=evil"), "is not a git ref"),
    ]
    for request, words in cases:
        with pytest.raises(FacilityError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            slurm_type.submit(facility, request, 10)


def test_a_failing_script_ends_in_error_with_its_own_words(slurm_type, slurm_facility, make_job, tools, follow, user):
    facility = slurm_facility()
    job = slurm_type.submit(facility, make_job(tools, command="bash fail.sh"), 10)

    phases, status = follow(slurm_type, facility, job)

    assert phases[-1] is JobPhase.ERROR
    assert status.message.startswith("The job failed in its 'run' step (exit code 3)")
    assert "the catalogue has no column flux" in status.message
    assert status.details["exit_code"] == 3 and status.details["slurm_state"] == "FAILED"
    assert "the catalogue has no column flux" in slurm_type.log(facility, job, user, 10)


def test_a_repository_that_cannot_be_cloned_ends_in_error_in_its_clone_step(
    slurm_type, slurm_facility, make_job, git_server, follow
):
    job = slurm_type.submit(slurm_facility(), make_job(f"{git_server.url}/missing.git", command="true"), 10)

    phases, status = follow(slurm_type, slurm_facility(), job)

    assert phases[-1] is JobPhase.ERROR
    assert "'clone' step" in status.message and "missing.git" in status.message


def test_a_job_that_never_starts_stays_queued_saying_why_until_it_is_cancelled(
    slurm, slurm_type, slurm_facility, make_job, tools, user
):
    facility = slurm_facility(partition=slurm.down_partition)
    assert "partition 'closed' is DOWN" in slurm_type.check(facility, 10).message
    job = slurm_type.submit(facility, make_job(tools, command="bash sleep.sh"), 10)

    for _ in range(3):  # the core's bounded wait polls, then gives up and cancels
        status = slurm_type.status(facility, job, user, 10)
        assert status.phase is JobPhase.QUEUED and "PartitionDown" in status.message and status.started is None
    slurm_type.cancel(facility, job, user, 10)

    assert slurm_type.status(facility, job, user, 10).phase is JobPhase.ABORTED


def test_cancel_aborts_a_running_job_and_a_finished_job_cannot_be_cancelled(
    slurm_type, slurm_facility, make_job, tools, wait_for_phase, follow, user
):
    facility = slurm_facility()
    job = slurm_type.submit(facility, make_job(tools, command="bash sleep.sh"), 10)
    assert wait_for_phase(slurm_type, facility, job, JobPhase.EXECUTING).phase is JobPhase.EXECUTING

    slurm_type.cancel(facility, job, user, 10)

    phases, status = follow(slurm_type, facility, job, timeout=30)
    assert phases[-1] is JobPhase.ABORTED and status.message == "The job was cancelled"
    with pytest.raises(FacilityError, match=r"has already ended \(ABORTED\): there is nothing to cancel"):
        slurm_type.cancel(facility, job, user, 10)


def test_the_facility_going_down_mid_job_is_a_clear_error_and_the_job_is_kept(
    slurm, slurm_type, slurm_facility, make_job, tools, wait_for_phase, user
):
    facility = slurm_facility()
    job = slurm_type.submit(facility, make_job(tools, command="bash sleep.sh"), 10)
    assert wait_for_phase(slurm_type, facility, job, JobPhase.EXECUTING).phase is JobPhase.EXECUTING

    with slurm.rest_down():
        with pytest.raises(
            FacilityError, match="slurmrestd at unix:.* cannot be reached .*jobs already submitted are kept"
        ):
            slurm_type.status(facility, job, user, 10)
        assert not slurm_type.check(facility, 10).up

    assert slurm_type.status(facility, job, user, 10).phase is JobPhase.EXECUTING
    slurm_type.cancel(facility, job, user, 10)


def test_slurmrestd_refusing_the_token_is_a_clear_message(slurm, slurm_type, slurm_facility, make_job, tools):
    from esap_core import Secret

    facility = slurm_facility(url=slurm.jwt_url, socket=None, user_name="alice", token=Secret("not-valid", "test"))

    check = slurm_type.check(facility, 10)
    with pytest.raises(FacilityError) as refused:
        slurm_type.submit(facility, make_job(tools, command="true"), 10)

    assert not check.up and "refused ESAP's credentials for user 'alice'" in check.message
    assert "Authentication failure" in str(refused.value) and "scontrol token" in str(refused.value)
    assert "not-valid" not in str(refused.value)
    # slurmrestd's own log shows what arrived: the headers X-SLURM-USER-NAME and X-SLURM-USER-TOKEN
    assert "attempting user_name alice token authentication" in slurm.jwt_log()


def test_results_larger_than_the_bound_are_refused(slurm_type, slurm_facility, make_job, tools, follow, user):
    facility = slurm_facility()
    job = slurm_type.submit(facility, make_job(tools, command="bash big.sh"), 10)
    assert follow(slurm_type, facility, job)[0][-1] is JobPhase.COMPLETED

    listed = {result.name: result.size for result in slurm_type.results(facility, job, user, 10)}
    with pytest.raises(FacilityError, match=r"'big.bin' is 2.0 MB, more than the 1.0 MB ESAP takes back"):
        slurm_type.open_result(facility, job, "big.bin", user, 10, max_bytes=1_000_000)
    with slurm_type.open_result(facility, job, "big.bin", user, 10, max_bytes=2_000_000) as stream:
        assert len(stream.read()) == 2_000_000

    assert listed == {"big.bin": 2_000_000, "small.txt": 6}


def test_names_outside_the_output_folder_are_refused(slurm, slurm_type, slurm_facility, make_job, tools, follow, user):
    facility = slurm_facility()
    job = slurm_type.submit(facility, make_job(tools, command="bash big.sh"), 10)
    follow(slurm_type, facility, job)
    (slurm.work_root / "secret.txt").write_text("not a result")

    for name in ("../../secret.txt", "/etc/passwd", "a/../../b", "", "small.txt\n", "./small.txt"):
        with pytest.raises(FacilityError, match="is not the name of a file in the job's output folder"):
            slurm_type.open_result(facility, job, name, user, 10)
    with pytest.raises(FacilityError, match="the job has no result named 'none.txt'"):
        slurm_type.open_result(facility, job, "none.txt", user, 10)


def test_a_job_slurm_does_not_know_is_unknown(slurm_type, slurm_facility, user):
    status = slurm_type.status(slurm_facility(), "999999:forgotten-job", user, 10)

    assert status.phase is JobPhase.UNKNOWN and "Slurm no longer knows job 999999" in status.message
    with pytest.raises(FacilityError, match="is not the id of a job this Slurm facility submitted"):
        slurm_type.status(slurm_facility(), "../../etc:x", user, 10)


def test_a_private_facility_may_not_use_a_local_socket(slurm_type, slurm_facility, make_job, tools):
    facility = slurm_facility(trusted=False)

    check = slurm_type.check(facility, 10)
    with pytest.raises(FacilityError, match="'socket' is only for facilities an admin registers"):
        slurm_type.submit(facility, make_job(tools, command="true"), 10)

    assert not check.up and "use slurmrestd's URL and a token" in check.message
