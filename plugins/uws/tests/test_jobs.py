"""Jobs of a real UWS service (GAVO DaCHS): run, followed with WAIT, aborted, failed, destroyed."""

import time

import pytest

from esap_core import FacilityError, FieldType, JobPhase
from esap_core.testing import check_job_facility, job_request


@pytest.fixture
def words(dachs_uws, make_facility):
    """The word-counting service, with the description of its parameters."""
    return make_facility(dachs_uws.jobs_url, description_url=dachs_uws.description_url)


def test_the_service_describes_its_parameters(uws_type, words):
    fields = {field.name: field for field in uws_type.job_fields(words, 10)}

    assert (fields["text"].type, fields["text"].help) == (FieldType.TEXT, "Text whose words are counted")
    assert (fields["repeat"].type, fields["repeat"].default) == (FieldType.INTEGER, 1)
    assert (fields["seconds"].type, fields["fail"].type) == (FieldType.NUMBER, FieldType.BOOLEAN)
    assert (fields["case"].type, fields["case"].choices, fields["case"].default) == (
        FieldType.CHOICE,
        ("lower", "upper"),
        "lower",
    )
    check = uws_type.check(words, 10)
    assert check.up and "describes 8 parameters" in check.message


def test_a_job_runs_to_completion_with_its_results(uws_type, words):
    request = job_request(parameters={"text": "Hello World", "repeat": 2, "case": "upper"})

    run = check_job_facility(uws_type, words, request, timeout=60)

    assert run.phases[-1] is JobPhase.COMPLETED and run.status.message == "Finished"
    assert [result.name for result in run.results] == ["count.txt", "result"]
    assert run.contents == {"count.txt": b"4\n", "result": b"HELLO\nWORLD\nHELLO\nWORLD\n"}
    assert run.status.started is not None and run.status.details["destruction"]


def test_status_blocks_with_wait_until_the_phase_changes(uws_type, words, user):
    job = uws_type.submit(words, job_request(parameters={"text": "slow", "seconds": 4}), 10)
    deadline = time.monotonic() + 30
    while uws_type.status(words, job, user, 5).phase is not JobPhase.EXECUTING:  # WAIT=0 with a short timeout
        assert time.monotonic() < deadline

    started = time.monotonic()
    status = uws_type.status(words, job, user, 30)

    assert status.phase is JobPhase.COMPLETED  # one call: the service answered when the job ended
    assert 1.5 < time.monotonic() - started < 25


def test_a_job_is_aborted_and_then_cannot_be_aborted_again(uws_type, words, user):
    job = uws_type.submit(words, job_request(parameters={"text": "long", "seconds": 60}), 10)
    deadline = time.monotonic() + 30
    while uws_type.status(words, job, user, 5).phase is not JobPhase.EXECUTING:
        assert time.monotonic() < deadline

    uws_type.cancel(words, job, user, 10)

    deadline = time.monotonic() + 30
    while (status := uws_type.status(words, job, user, 10)).phase is not JobPhase.ABORTED:
        assert time.monotonic() < deadline, status
    assert status.message == "The job was aborted"
    with pytest.raises(FacilityError, match=r"has already ended \(ABORTED\): there is nothing to abort"):
        uws_type.cancel(words, job, user, 10)


def test_a_failing_job_ends_in_error_with_its_error_summary(uws_type, words):
    run = check_job_facility(uws_type, words, job_request(parameters={"text": "x", "fail": True}), timeout=60)

    assert run.phases[-1] is JobPhase.ERROR
    assert run.status.message == "the job was asked to fail" and run.status.details["error_type"] == "fatal"
    assert run.results == []


def test_a_destroyed_job_is_unknown(uws_type, words, user):
    job = uws_type.submit(words, job_request(parameters={"text": "brief"}), 10)

    uws_type.delete(words, job, user, 10)

    status = uws_type.status(words, job, user, 10)
    assert status.phase is JobPhase.UNKNOWN and "no longer knows the job" in status.message
    uws_type.delete(words, job, user, 10)  # already gone: fine


def test_results_larger_than_the_bound_and_unknown_names_are_refused(uws_type, words, user):
    run = check_job_facility(uws_type, words, job_request(parameters={"text": "one two three"}), timeout=60)

    with pytest.raises(FacilityError, match=r"'result' is 14 bytes, more than the 10 ESAP takes back"):
        uws_type.open_result(words, run.job, "result", user, 10, max_bytes=10)
    with pytest.raises(FacilityError, match="the job has no result named '../../etc/passwd'"):
        uws_type.open_result(words, run.job, "../../etc/passwd", user, 10)
