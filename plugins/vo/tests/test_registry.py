"""The registry archive and the RegTAP registry of the test DaCHS."""

import pytest
from esap_vo.registry import registry_query

from esap_core import ArchiveError


def test_pyvo_registry_search_works_on_the_test_registry(dachs):
    import pyvo

    previous = pyvo.registry.get_RegTAP_service_url()
    pyvo.registry.choose_RegTAP_service(dachs.registry_tap_url)
    try:
        found = pyvo.registry.search(keywords=["stars"], servicetype="scs")
        assert [record.ivoid for record in found] == ["ivo://esap.test/esap/q/cone"]
        assert found[0].access_url == f"{dachs.base_url}/esap/q/cone/scs.xml?"
    finally:
        pyvo.registry.choose_RegTAP_service(previous)


def test_keyword_and_service_type(registry, user):
    page = registry.search({"keywords": "galaxies", "service_type": "sia"}, 1, user, 20)
    assert [row["ivoid"] for row in page.rows] == ["ivo://esap.test/radio/sia"]
    row = page.rows[0]
    assert row["title"] == "Radio continuum images"
    assert row["short_name"] == "radio img"
    assert row["publisher"] == "Radio Observatory"
    assert row["service_type"] == "sia"
    assert row["access_url"].endswith("/radio/sia?")
    assert "radio continuum survey" in row["description"]
    assert page.total == 1


def test_any_service_type_and_subject_match(registry, user):
    page = registry.search({"keywords": "galaxies"}, 1, user, 20)
    # "galaxies" is a subject of the radio and multi-wavelength resources and in the X-ray title
    assert {row["ivoid"] for row in page.rows} == {
        "ivo://esap.test/radio/sia",
        "ivo://esap.test/multi/tap",
        "ivo://esap.test/xray/ssa",
    }


def test_waveband_filter_uses_the_registry_column(registry, user):
    radio = registry.search({"keywords": "galaxies", "waveband": "radio"}, 1, user, 20)
    assert {row["ivoid"] for row in radio.rows} == {"ivo://esap.test/radio/sia", "ivo://esap.test/multi/tap"}
    xray = registry.search({"keywords": "galaxies", "waveband": "x-ray", "service_type": "ssa"}, 1, user, 20)
    assert [row["ivoid"] for row in xray.rows] == ["ivo://esap.test/xray/ssa"]


def test_several_keywords_must_all_match(registry, user):
    page = registry.search({"keywords": "cone stars", "service_type": "scs"}, 1, user, 20)
    assert [row["ivoid"] for row in page.rows] == ["ivo://esap.test/esap/q/cone"]
    assert registry.search({"keywords": "cone galaxies"}, 1, user, 20).rows == []


def test_keywords_cannot_inject_adql(registry, user):
    page = registry.search({"keywords": "x') OR 1=1 --"}, 1, user, 20)
    assert page.rows == []
    assert "'x'') OR 1=1 --'" not in registry_query("ok")
    assert "ivo_hasword(res.res_title, 'it''s')" in registry_query("it's")


def test_found_services_answer(registry, user, dachs):
    from esap_vo import cone

    row = registry.search({"keywords": "stars", "service_type": "scs"}, 1, user, 20).rows[0]
    page = cone.cone_search(row["access_url"], *dachs.cluster_centre, 0.1, timeout=20)
    assert page.rows


def test_basket_item_points_at_the_service(registry, user):
    row = registry.search({"keywords": "stars", "service_type": "tap"}, 1, user, 20).rows[0]
    item = registry.basket_item(row)
    assert item.fetch == {"method": "http", "url": row["access_url"]}
    assert item.identifier == "ivo://esap.test/tap#tap"
    assert item.payload["row"]["ivoid"] == "ivo://esap.test/tap"


@pytest.mark.parametrize(
    "query, message",
    [
        ({"keywords": ""}, "at least one keyword"),
        ({"keywords": "stars", "service_type": "ftp"}, "unknown service type"),
        ({"keywords": "stars", "waveband": "neutrino"}, "unknown waveband"),
    ],
)
def test_bad_input_is_an_archive_error(registry, user, query, message):
    with pytest.raises(ArchiveError, match=message):
        registry.search(query, 1, user, 20)
