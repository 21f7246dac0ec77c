"""Bad parameters, and services answering HTML, garbage or the wrong thing, end as clear messages."""

import pytest

from esap_core import FacilityError
from esap_core.testing import free_port, job_request


def test_unknown_parameters_and_bad_values_are_refused_before_anything_is_created(
    uws_type, dachs_uws, make_facility, user
):
    words = make_facility(dachs_uws.jobs_url, description_url=dachs_uws.description_url)

    with pytest.raises(FacilityError, match="the service takes no parameter 'colour'; it takes text, repeat"):
        uws_type.submit(words, job_request(parameters={"text": "x", "colour": "red"}), 10)
    with pytest.raises(FacilityError, match="parameters do not fit the service: repeat: repeat must be a whole number"):
        uws_type.submit(words, job_request(parameters={"text": "x", "repeat": 1.5}), 10)
    with pytest.raises(FacilityError, match="case must be one of lower, upper"):
        uws_type.submit(words, job_request(parameters={"text": "x", "CASE": "title"}), 10)
    with pytest.raises(FacilityError, match="gives it parameters, no command, notebook or items"):
        uws_type.submit(words, job_request(command="rm -rf /", parameters={"text": "x"}), 10)
    with pytest.raises(FacilityError, match="takes no option 'time_limit'"):
        uws_type.submit(words, job_request(parameters={"text": "x"}, options={"time_limit": 5}), 10)


def test_without_a_description_the_service_refuses_bad_values_in_its_own_words(uws_type, dachs_uws, make_facility):
    words = make_facility(dachs_uws.jobs_url)

    with pytest.raises(FacilityError) as refused:
        uws_type.submit(words, job_request(parameters={"text": "x", "repeat": "abc"}), 10)

    assert str(refused.value) == (
        "the UWS service refused to create the job (HTTP 400): Field repeat: 'abc' is not a valid literal for repeat"
    )


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ("html", "answered an HTML page (HTTP 200) at http://127.0.0.1:"),
        ("garbage", "answered not XML (not well-formed (invalid token)"),
        ("json", "answered application/json at http://127.0.0.1:"),
        ("foreign", "answered a <rss> document, not a UWS job list"),
    ],
)
def test_a_service_answering_the_wrong_thing_is_named_clearly(
    uws_type, misbehaving_services, make_facility, user, service, words
):
    facility = make_facility(getattr(misbehaving_services, service))

    check = uws_type.check(facility, 10)
    with pytest.raises(FacilityError) as from_status:
        uws_type.status(facility, f"{facility.url}/job1", user, 10)

    assert not check.up and words in check.message
    assert words.replace("a UWS job list", "a UWS job") in str(from_status.value)
    with pytest.raises(FacilityError, match="not a 303 redirect"):  # a 200 where a job's 303 belongs
        uws_type.submit(facility, job_request(parameters={"text": "x"}), 10)


def test_a_description_that_is_not_a_votable_is_named(uws_type, dachs_uws, misbehaving_services, make_facility):
    facility = make_facility(dachs_uws.jobs_url, description_url=misbehaving_services.html)

    check = uws_type.check(facility, 10)

    assert not check.up and "an HTML page" in check.message and "a description of its parameters" in check.message


def test_a_service_that_is_down_is_named(uws_type, make_facility, user):
    facility = make_facility(f"http://127.0.0.1:{free_port()}/svc/async")

    with pytest.raises(FacilityError, match="cannot be reached: connection refused"):
        uws_type.status(facility, f"{facility.url}/job1", user, 10)
    assert not uws_type.check(facility, 10).up


def test_a_job_url_of_another_server_is_refused(uws_type, dachs_uws, make_facility, user):
    facility = make_facility(dachs_uws.jobs_url)

    with pytest.raises(FacilityError, match="is not the URL of a job of the UWS service"):
        uws_type.status(facility, "http://169.254.169.254/latest/meta-data", user, 10)


def test_esap_loads_the_plugin(esap_client):
    listed = {plugin["name"]: plugin for plugin in esap_client.get("/api/v1/plugins").get_json()["plugins"]}
    assert listed["uws"]["registered"] == {"facility type": ["uws"]}
