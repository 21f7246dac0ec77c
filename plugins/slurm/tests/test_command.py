"""A command job on the real Slurm: its parameters, its virtual environment, its results over HTTP."""

import pytest
from esap_slurm.testing import static_server

from esap_core import FacilityError, JobPhase
from esap_core.testing import check_job_facility

REPORT = """\
set -eu
python -c 'import sys; print(sys.prefix)' > "$ESAP_OUTPUT/prefix.txt"
printf '%s|%s' "$ESAP_PARAM_GREETING" "$ESAP_PARAM_COUNT" > "$ESAP_OUTPUT/parameters.txt"
mkdir -p "$ESAP_OUTPUT/plots"
echo 'a plot' > "$ESAP_OUTPUT/plots/one.txt"
ln -s /etc/passwd "$ESAP_OUTPUT/passwd"
echo reported
"""


@pytest.fixture(scope="module")
def report_repository(git_server) -> str:
    return git_server.repository("report", {"report.sh": REPORT, "requirements.txt": "requests\n"})


def test_a_command_runs_in_its_environment_with_its_parameters(
    slurm, slurm_type, slurm_facility, make_job, report_repository, user
):
    facility = slurm_facility()
    request = make_job(
        report_repository, command="bash report.sh", parameters={"greeting": "hello world; $(rm -rf /)", "count": 2}
    )

    run = check_job_facility(slurm_type, facility, request, timeout=120)

    assert run.phases[-1] is JobPhase.COMPLETED, run.status.message
    assert run.contents["parameters.txt"] == b"hello world; $(rm -rf /)|2"  # passed as data, never run
    assert run.contents["prefix.txt"].decode().strip() == str(slurm.work_root / request.job_id / "venv")
    # the symbolic link to /etc/passwd is not a result: only regular files in output/ are
    assert sorted(result.name for result in run.results) == ["parameters.txt", "plots/one.txt", "prefix.txt"]
    assert [result.media_type for result in run.results] == ["text/plain"] * 3
    with pytest.raises(FacilityError, match="'passwd' is not a file in the job's output folder"):
        slurm_type.open_result(facility, run.job, "passwd", user, 10)


def test_results_read_over_an_http_file_server(slurm, slurm_type, slurm_facility, make_job, report_repository, user):
    with static_server(slurm.work_root) as files_url:
        facility = slurm_facility(results_path=None, results_url=files_url)
        request = make_job(report_repository, command="bash report.sh", parameters={"greeting": "hi", "count": 1})

        run = check_job_facility(slurm_type, facility, request, timeout=120)

        assert run.phases[-1] is JobPhase.COMPLETED, run.status.message
        assert run.contents["parameters.txt"] == b"hi|1"
        assert "passwd" not in {result.name for result in run.results}
        assert run.status.details["commit"]  # the job's summary was read over HTTP too
        assert slurm_type.log(facility, run.job, user, 10, tail=8) == "is done\n"  # a server without ranges


def test_a_command_without_requirements_runs_with_the_facility_python(
    slurm, slurm_type, slurm_facility, make_job, git_server, user
):
    url = git_server.repository("plain", {"run.sh": 'python3 -c "import sys; print(sys.executable)"\n'})
    facility = slurm_facility()
    request = make_job(url, command="bash run.sh")

    run = check_job_facility(slurm_type, facility, request, timeout=120)

    assert run.phases[-1] is JobPhase.COMPLETED and run.results == []
    log = slurm_type.log(facility, run.job, user, 10)
    assert "virtual environment" not in log and "/usr/bin/python3" in log
