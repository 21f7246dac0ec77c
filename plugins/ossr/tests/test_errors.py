"""A failing community search ends the harvest with ESAP's HarvestError, readable; the report says what was done."""

import socket

import pytest

from esap_core import HarvestError, SoftwareRecord


def test_the_plugin_raises_esaps_own_harvest_error():
    import esap_ossr.zenodo

    assert esap_ossr.zenodo.HarvestError is HarvestError


def test_an_error_page_from_the_search_ends_the_harvest(zenodo, make_source):
    source = make_source()

    with zenodo.search_fails(502), pytest.raises(HarvestError) as caught:
        list(source.harvest(None))

    message = str(caught.value)
    assert message == (
        f"the Zenodo search of community 'escape2020' at {zenodo.base_url} (page 1) answered HTTP 502: Bad Gateway"
    )
    assert "<" not in message
    assert source.last_report.error == message
    assert source.last_report.finished is not None


def test_a_failure_on_a_later_page_ends_the_harvest_after_the_first_pages(zenodo, make_source):
    source = make_source(page_size=10)
    yielded = []

    with zenodo.search_fails(503, from_page=3), pytest.raises(HarvestError, match=r"\(page 3\) answered HTTP 503"):
        for item in source.harvest(None):
            if isinstance(item, SoftwareRecord):
                yielded.append(item)

    assert len(yielded) == 20
    assert source.last_report.yielded == 20


def test_a_json_error_from_zenodo_is_reported_with_its_message(zenodo, make_source):
    source = make_source()

    with zenodo.search_fails(429, message="Too many requests, slow down."), pytest.raises(HarvestError) as caught:
        list(source.harvest(None))

    assert str(caught.value).endswith("answered HTTP 429: Too Many Requests (Too many requests, slow down.)")


def test_an_html_page_answered_with_200_is_an_error(zenodo, make_source):
    # a maintenance page or a captive portal answering 200 is not a Zenodo search
    source = make_source()

    with zenodo.search_fails(200), pytest.raises(HarvestError) as caught:
        list(source.harvest(None))

    assert str(caught.value).endswith("(page 1) answered something that is not JSON (text/html)")


def test_a_wrong_zenodo_url_is_a_readable_error(zenodo, make_source):
    source = make_source(zenodo_url=f"{zenodo.base_url}/not-zenodo")

    with pytest.raises(HarvestError) as caught:
        list(source.harvest(None))

    assert str(caught.value).endswith("HTTP 404: Not Found (The requested URL was not found on the server.)")


def test_zenodo_not_answering_is_a_readable_error(make_source):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    source = make_source(zenodo_url=f"http://127.0.0.1:{port}")

    with pytest.raises(HarvestError, match=rf"at http://127.0.0.1:{port} \(page 1\) cannot be reached: "):
        list(source.harvest(None))
