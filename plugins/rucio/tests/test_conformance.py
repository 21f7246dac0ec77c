"""The Rucio archive as ESAP loads it keeps the plugin contract (esap_core.testing), against the test server."""

import pytest

from esap_core import DataItem
from esap_core.testing import check_archive, check_dids, check_staging


@pytest.fixture
def esap_plugin_name():
    return "rucio"


@pytest.fixture
def esap_plugin_settings(rucio_server, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_RUCIO_PASSWORD", rucio_server.password)
    instance = {
        "name": "test-rucio",
        "title": "Test Rucio",
        "host": rucio_server.host,
        "auth_host": rucio_server.auth_host,
        "vo": rucio_server.vo,
        "auth": "userpass",
        "account": rucio_server.account,
        "username": rucio_server.username,
        "password": {"env": "ESAP_TEST_RUCIO_PASSWORD"},
    }
    return {"instances": [{key: value for key, value in instance.items() if value is not None}]}


@pytest.fixture
def archive(esap_app):
    return esap_app.extensions["esap.plugins"].archives["test-rucio"]


def test_a_scope_search_keeps_the_contract(archive, esap_user_context, rucio_server):
    page = check_archive(archive, {"scope": "escape", "name": "demo_*", "did_type": "all"}, user=esap_user_context)

    assert {row["type"] for row in page.rows} == {"container", "dataset", "file"}
    assert archive.basket_item(page.rows[0]).fetch["host"] == rucio_server.host


def test_the_one_form_keyword_search_keeps_the_contract(archive, esap_user_context):
    page = check_archive(archive, {"keywords": "demo dataset"}, user=esap_user_context)

    assert "escape:demo_dataset_1" in {row["did"] for row in page.rows}


def test_staging_at_a_facility_keeps_the_contract(archive, esap_user_context):
    did = "escape:demo_dataset_1"
    item = DataItem(identifier=did, title="demo", fetch={"method": "rucio", "did": did, "host": "x"})
    result = check_staging(archive, [item], "LOCAL_A", user=esap_user_context, timeout=10)

    assert result.state == "ready" and result.paths[did]


@pytest.mark.parametrize("did", ["escape:demo_collection", "escape:demo_dataset_2"])
def test_browsing_dids_keeps_the_contract(archive, esap_user_context, did):
    contents = check_dids(archive, did, user=esap_user_context)

    assert contents.rows
