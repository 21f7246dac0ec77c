"""The bounded wait per phase, from the configuration: a job that never starts on the real Slurm is cancelled."""

import pytest

from tests.job_setup import run_job, submitted


@pytest.fixture
def committed_config(slurm_config) -> dict:
    return {**slurm_config, "job_queued_timeout": 4.0}


def test_a_job_that_never_starts_is_cancelled_after_the_bounded_wait(
    committed_app, slurm_esap, job_owner, job_software
):
    job = submitted(
        committed_app, job_owner, software_id=job_software, facility_name="slurm-closed", command="bash sleep.sh"
    )

    done = run_job(committed_app, job.id, slurm_esap.url)

    assert done.phase == "ERROR"
    assert "stayed QUEUED longer than 4 s" in done.message and "ESAP cancelled it" in done.message
    assert "PartitionDown" in done.message  # Slurm's reason, kept
