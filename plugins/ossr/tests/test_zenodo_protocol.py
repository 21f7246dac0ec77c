"""eossr itself, pointed at the local Zenodo, sees the records the plugin harvests."""

import eossr.api.zenodo.zenodo as eossr_zenodo
import pytest
from eossr.api.zenodo import search_records
from eossr.api.zenodo.http_status import HTTPStatusError

GLOBALS = ("zenodo_url", "zenodo_api_base_url")


@pytest.fixture
def eossr_at(zenodo):
    saved = {name: getattr(eossr_zenodo, name) for name in GLOBALS}
    eossr_zenodo.zenodo_url = zenodo.base_url
    eossr_zenodo.zenodo_api_base_url = f"{zenodo.base_url}/api/"
    yield zenodo
    for name, value in saved.items():
        setattr(eossr_zenodo, name, value)


def eossr_community_ids() -> list[str]:
    # Page by page with one page size: eossr's own get_ossr_records shrinks the size of its last page,
    # which on Zenodo (and here) lists some records twice and misses others.
    ids = []
    for page in (1, 2, 3):
        records = search_records("", communities="escape2020", type="software", size=25, page=page)
        ids += [str(record.data["conceptrecid"]) for record in records]
    return ids


def test_eossr_lists_the_same_community_records_as_the_plugin(eossr_at, make_source):
    eossr_ids = set(eossr_community_ids())
    plugin_ids = {record.external_id for record in make_source().harvest(None)}

    assert len(eossr_ids) == 37
    assert eossr_ids == plugin_ids


def test_eossr_reads_codemeta_from_files_and_zip_archives(eossr_at):
    assert eossr_zenodo.get_record(10000011).get_codemeta()["codeRepository"] == "https://github.com/gammapy/gammapy"
    assert eossr_zenodo.get_record(10000201).get_codemeta()["name"] == "lstchain"
    with pytest.raises(FileNotFoundError):
        eossr_zenodo.get_record(10000231).get_codemeta()


def test_eossr_sees_a_deleted_record_as_gone(eossr_at):
    eossr_at.delete_record(10000011)

    with pytest.raises(HTTPStatusError, match="410"):
        eossr_zenodo.get_record(10000011)
    assert "10000009" not in eossr_community_ids()
