"""Cone search (SCS) against the test DaCHS, and the checks on coordinates."""

import pytest
from esap_vo import cone, position

from .conftest import separation


def test_cone_search_finds_exactly_the_sources_inside(dachs):
    ra, dec = dachs.cluster_centre
    page = cone.cone_search(dachs.cone_url, ra, dec, 0.2, timeout=20)
    expected = {s["name"] for s in dachs.sources if separation(ra, dec, s["ra"], s["dec"]) <= 0.2}
    assert 5 < len(expected) < 50
    assert {row["name"] for row in page.rows} == expected
    columns = {column.name: column for column in page.columns}
    assert columns["ra"].ucd == "POS_EQ_RA_MAIN"  # SCS 1.03 mandates UCD1
    assert all(row["access_url"].startswith(dachs.base_url) for row in page.rows)


def test_cone_search_accepts_numbers_as_text(dachs):
    page = cone.cone_search(dachs.cone_url, "10.0", "10", "0.5", timeout=20)
    assert len(page.rows) == 50


def test_access_urls_serve_files(dachs):
    import requests

    row = cone.cone_search(dachs.cone_url, *dachs.cluster_centre, 0.3, timeout=20).rows[0]
    answer = requests.get(row["access_url"], timeout=10)
    assert answer.status_code == 200
    assert answer.text == f"data of {row['name']}\n"


@pytest.mark.parametrize(
    "ra, dec, radius, message",
    [
        ("ten", 10, 1, "RA must be a number"),
        (10, None, 1, "Dec must be a number"),
        (400, 10, 1, "RA must be between 0 and 360"),
        (10, -91, 1, "Dec must be between -90 and 90"),
        (10, 10, -1, "radius must be between 0 and 10"),
        (10, 10, float("nan"), "radius must be a finite number"),
        (10, 10, 90, "radius must be between 0 and 10"),
        (True, 10, 1, "RA must be a number"),
    ],
)
def test_bad_coordinates_are_value_errors(ra, dec, radius, message):
    with pytest.raises(ValueError, match=message):
        position.cone(ra, dec, radius)
    with pytest.raises(ValueError, match=message):
        cone.cone_search("http://127.0.0.1:9/never-called", ra, dec, radius, timeout=1)
