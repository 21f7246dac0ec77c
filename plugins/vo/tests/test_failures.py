"""Services that fail: unreachable, slow past the timeout, answering HTML. Each a clear ArchiveError."""

import time

import pytest
from esap_vo import cone, sia, tap
from esap_vo.pinned import PinnedService
from esap_vo.registry import RegistryArchive

from esap_core import ArchiveError

CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


def no_traceback(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "Traceback" not in message and 'File "' not in message
    assert error.value.__suppress_context__ or error.value.__cause__ is None
    return message


@pytest.mark.parametrize(
    "call",
    [
        lambda url: tap.query(f"{url}/tap", "SELECT 1 FROM x", 5),
        lambda url: tap.tables(f"{url}/tap", 5),
        lambda url: tap.submit_job(f"{url}/tap", "SELECT 1 FROM x", 5),
        lambda url: cone.cone_search(f"{url}/scs.xml", 10, 10, 1, timeout=5),
        lambda url: sia.image_search(f"{url}/sia2/query", 10, 10, 1, timeout=5),
    ],
)
def test_unreachable_service(call):
    with pytest.raises(ArchiveError) as caught:
        call(CLOSED_PORT)
    message = no_traceback(caught)
    assert message.startswith("http://127.0.0.1:9/") and "cannot be reached" in message
    assert "refused" in caught.value.detail and "refused" not in message  # the socket's words, apart


def test_unreachable_registry(user):
    with pytest.raises(ArchiveError, match="http://127.0.0.1:9/tap cannot be reached"):
        RegistryArchive(f"{CLOSED_PORT}/tap").search({"keywords": "stars"}, 1, user, 5)


def test_slow_tap_times_out(faulty_services):
    started = time.monotonic()
    with pytest.raises(ArchiveError) as caught:
        tap.query(faulty_services.slow_tap_url, "SELECT TOP 1 name FROM esap.sources", 1)
    assert f"{faulty_services.slow_tap_url} did not answer within 1 s" in no_traceback(caught)
    assert time.monotonic() - started < faulty_services.delay


def test_slow_cone_search_times_out(faulty_services):
    with pytest.raises(ArchiveError, match="did not answer within 1 s"):
        cone.cone_search(faulty_services.slow_cone_url, 10, 10, 0.1, timeout=1)


def test_slow_service_answers_with_enough_time(faulty_services, dachs):
    patient = faulty_services.delay + 10
    page = cone.cone_search(faulty_services.slow_cone_url, *dachs.cluster_centre, 0.5, timeout=patient)
    assert len(page.rows) == 50


def test_slow_pinned_service_times_out(faulty_services, user):
    archive = PinnedService({"name": "slow", "tap_url": faulty_services.slow_tap_url, "table": "esap.obs"})
    with pytest.raises(ArchiveError, match="did not answer within 1 s"):
        archive.search({"ra": 10, "dec": 10, "radius": 0.3}, 1, user, 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda services: tap.query(services.broken_tap_url, "SELECT 1 FROM x", 5),
        lambda services: tap.tables(services.broken_tap_url, 5),
        lambda services: cone.cone_search(services.broken_cone_url, 10, 10, 1, timeout=5),
        lambda services: sia.image_search(f"{services.broken_base_url}/sia2", 10, 10, 1, timeout=5),
        lambda services: RegistryArchive(services.broken_tap_url).search(
            {"keywords": "stars"}, 1, __import__("esap_core").UserContext("tester"), 5
        ),
    ],
)
def test_service_answering_html(faulty_services, call):
    with pytest.raises(ArchiveError) as caught:
        call(faulty_services)
    message = no_traceback(caught)
    assert faulty_services.broken_base_url in message
    assert "VOTable" in message or "as a VO service should" in message
