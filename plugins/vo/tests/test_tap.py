"""TAP: table browsing, synchronous ADQL, async UWS jobs, against the test DaCHS."""

import pytest
from esap_vo import tap

from esap_core import ArchiveError


def test_tables_lists_the_catalogue_and_the_registry(dachs):
    names = {table.name for table in tap.tables(dachs.tap_url, 20)}
    assert {"esap.sources", "esap.obs", "rr.resource", "rr.interface"} <= names


def test_table_columns_carry_unit_ucd_and_description(dachs):
    described = tap.table(dachs.tap_url, "esap.sources", 20)
    columns = {column.name: column for column in described.columns}
    assert columns["ra"].unit == "deg"
    assert columns["ra"].ucd == "pos.eq.ra;meta.main"
    assert columns["ra"].description == "Right ascension (ICRS)"
    assert columns["mag"].unit == "mag"
    assert described.description == "Generated point sources."


def test_unknown_table(dachs):
    with pytest.raises(ArchiveError, match="no table 'esap.nothing'"):
        tap.table(dachs.tap_url, "esap.nothing", 20)


def test_sync_query_returns_json_safe_rows(dachs):
    page = tap.query(dachs.tap_url, "SELECT name, ra, dec, mag FROM esap.sources WHERE name = 'ESAP-007'", 20)
    expected = next(source for source in dachs.sources if source["name"] == "ESAP-007")
    assert page.total == 1
    row = page.rows[0]
    assert row["name"] == "ESAP-007"
    assert type(row["ra"]) is float and row["ra"] == pytest.approx(expected["ra"])
    assert type(row["mag"]) is float and row["mag"] == pytest.approx(expected["mag"], abs=1e-4)
    assert [column.name for column in page.columns] == ["name", "ra", "dec", "mag"]
    assert page.columns[1].unit == "deg"


def test_sync_query_row_limit(dachs):
    page = tap.query(dachs.tap_url, "SELECT name FROM esap.sources", 20, max_rows=10)
    assert len(page.rows) == 10
    assert page.total is None
    assert page.notes and "row limit" in page.notes[0]


def test_query_pages(dachs):
    statement = "SELECT TOP 31 name FROM esap.sources ORDER BY name"
    first = tap.query_page(dachs.tap_url, statement, 1, 20, 20)
    second = tap.query_page(dachs.tap_url, statement, 2, 20, 20)
    assert [row["name"] for row in first.rows] == [f"ESAP-{n:03d}" for n in range(1, 21)]
    assert first.total is None
    assert [row["name"] for row in second.rows] == [f"ESAP-{n:03d}" for n in range(21, 32)]
    assert second.total == 31


def test_invalid_adql_gives_the_service_message(dachs):
    with pytest.raises(ArchiveError) as caught:
        tap.query(dachs.tap_url, "SELECT nosuchcolumn FROM esap.sources", 20)
    message = str(caught.value)
    assert "rejected the query" in message
    assert "nosuchcolumn" in message
    assert "Traceback" not in message


def test_adql_syntax_error(dachs):
    with pytest.raises(ArchiveError, match="rejected the query: .*"):
        tap.query(dachs.tap_url, "SELEKT * FROM esap.sources", 20)


def test_async_job_submit_wait_fetch(dachs):
    job_url = tap.submit_job(dachs.tap_url, "SELECT name, mag FROM esap.sources WHERE mag < 12", 20)
    assert job_url.startswith(dachs.base_url) and "/async/" in job_url
    try:
        assert tap.job_phase(job_url, 20) in {"QUEUED", "EXECUTING", "COMPLETED"}
        assert tap.wait_for_job(job_url, 30) == "COMPLETED"
        page = tap.job_results(job_url, 20)
        expected = sorted(source["name"] for source in dachs.sources if source["mag"] < 12)
        assert sorted(row["name"] for row in page.rows) == expected
    finally:
        tap.cancel_job(job_url, 20)


def test_async_job_error_carries_the_service_message(dachs):
    job_url = tap.submit_job(dachs.tap_url, "SELECT nosuchcolumn FROM esap.sources", 20)
    try:
        assert tap.wait_for_job(job_url, 30) == "ERROR"
        with pytest.raises(ArchiveError, match="rejected the query: .*nosuchcolumn"):
            tap.job_results(job_url, 20)
    finally:
        tap.cancel_job(job_url, 20)


def test_cancelled_job_is_gone(dachs):
    job_url = tap.submit_job(dachs.tap_url, "SELECT * FROM esap.sources", 20)
    tap.cancel_job(job_url, 20)
    with pytest.raises(ArchiveError, match="HTTP 404"):
        tap.job_phase(job_url, 20)
