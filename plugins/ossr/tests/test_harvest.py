"""A full harvest of the local Zenodo's OSSR community: counts, field mapping, UI types, awkward records."""

import time

import pytest
from esap_ossr.source import OSSRConfig, OSSRSource

from esap_core import HarvestProblem, Settings, SoftwareRecord, UIType

SLOW, SCRIPT, HUGE = 10000261, 10000271, 10000281
BROKEN = {10000241: "not JSON", 10000251: "a JSON list, not an object"}
WITHOUT_CODEMETA = {10000211, 10000221, 10000231}


def listed_entries(zenodo) -> list[dict]:
    """The entries the community search lists: software of escape2020, latest versions only."""
    return [
        e
        for e in zenodo.entries()
        if e.get("type", "software") == "software"
        and "escape2020" in e.get("communities", ["escape2020"])
        and e.get("latest", True)
    ]


def by_id(items) -> dict:
    """The records of a harvest by external id (its problems left out)."""
    return {r.external_id: r for r in items if isinstance(r, SoftwareRecord)}


def problems(items) -> list[HarvestProblem]:
    return [p for p in items if isinstance(p, HarvestProblem)]


def concept(record_id: int) -> str:
    return str(record_id - 1)  # the corpus numbers a record right after its concept


@pytest.fixture(scope="module")
def harvested(zenodo_server):
    """One full harvest of the initial records, shared by the tests that only read it."""
    zenodo_server.reset()
    source = OSSRSource(
        OSSRConfig.from_settings(Settings("ossr", {"zenodo_url": zenodo_server.base_url, "timeout": 1}))
    )
    items = list(source.harvest(None))
    return by_id(items), source.last_report, problems(items)


def test_a_full_harvest_lists_every_software_record_of_the_community(zenodo, make_source):
    source = make_source(page_size=10)
    records = list(by_id(source.harvest(None)).values())

    expected = {str(e["conceptrecid"]) for e in listed_entries(zenodo)}
    assert len(expected) == 37
    assert {r.external_id for r in records} == expected
    assert len(records) == len(expected)  # no duplicate across the four pages
    report = source.last_report
    assert (report.seen, report.yielded, report.unchanged) == (37, 37, 0)
    assert report.finished is not None and report.error == ""
    # the dataset, the record of another community and the older Gammapy version are not listed
    assert not {"10000290", "10000300"} & {r.external_id for r in records}
    assert by_id(records)["10000009"].version == "v1.2"


def test_fields_come_from_codemeta_and_zenodo(harvested):
    records, _, _ = harvested

    gammapy = records["10000009"]
    assert gammapy.name == "Gammapy"
    assert gammapy.repository_url == "https://github.com/gammapy/gammapy"
    assert gammapy.runtime_platform == "Python 3.9"
    assert gammapy.authors == ("Axel Donath", "Christoph Deil")
    assert gammapy.version == "v1.2"
    assert gammapy.doi == "10.5281/zenodo.10000011"
    assert gammapy.licence == "BSD-3-Clause"
    assert gammapy.updated.isoformat() == "2024-03-01T08:00:00+00:00"
    assert {"gamma-ray astronomy", "astropy", "high-level analysis", "python", "Astronomy"} <= set(gammapy.keywords)
    assert gammapy.description.startswith("Gammapy is an open-source Python package")
    assert "\n\nIt is used as the science tools library" in gammapy.description

    # odd but valid codemeta shapes: lists, a comma-separated string, a licence object, a name-only author
    lstosa = records["10000180"]
    assert lstosa.repository_url == "https://github.com/cta-observatory/lstosa"
    assert lstosa.runtime_platform == "Python 3.10, Slurm"
    assert {"onsite analysis", "cli", "workflow", "Astronomy"} <= set(lstosa.keywords)
    assert lstosa.authors == ("Daniel Morcuende", "LST collaboration")
    assert lstosa.licence == "BSD-3-Clause"
    assert lstosa.version == "v0.10.0"

    # codemeta.json only inside the release's zip archive, read with range requests
    lstchain = records["10000200"]
    assert (lstchain.name, lstchain.version) == ("lstchain", "v0.10.5")
    assert lstchain.repository_url == "https://github.com/cta-observatory/cta-lstchain"
    assert lstchain.ref == "v0.10.5"  # from Zenodo's GitHub relation

    # a javascript: repository link is dropped, the record stays
    assert records["10000190"].repository_url == ""


def test_records_without_codemeta_are_listed_from_zenodo_metadata(harvested):
    records, report, _ = harvested

    assert report.without_codemeta == len(WITHOUT_CODEMETA)
    notebooks = records["10000220"]  # notebooks only: launchable through the DOI
    assert notebooks.name == "CTA DL3 analysis with Gammapy: tutorial notebooks"
    assert notebooks.repository_url == ""
    assert notebooks.doi == "10.5281/zenodo.10000221"
    assert notebooks.ui_type is UIType.NOTEBOOK
    assert notebooks.authors == ("Christoph Deil",)  # Zenodo's "Family, Given"
    assert notebooks.licence == "cc-by-4.0"
    guide = records["10000230"]
    assert (guide.repository_url, guide.doi) == ("", "10.5281/zenodo.10000231")
    # a zip without codemeta: the repository and ref come from Zenodo's GitHub relation
    benchmarks = records["10000210"]
    assert benchmarks.repository_url == "https://github.com/gammapy/gammapy-benchmarks"
    assert benchmarks.ref == "v1.0"


def test_ui_types_follow_keywords_and_codemeta(harvested):
    records, _, _ = harvested
    ui = {external_id: record.ui_type for external_id, record in records.items()}

    assert ui["10000030"] is UIType.NOTEBOOK  # keyword jupyter-notebook
    assert ui["10000150"] is UIType.NOTEBOOK  # runtimePlatform Jupyter
    assert ui["10000220"] is UIType.NOTEBOOK  # .ipynb files
    assert ui["10000009"] is UIType.NOTEBOOK  # a Python library, no other signal
    assert ui["10000050"] is UIType.DESKTOP  # TOPCAT: GUI, applicationCategory Desktop application
    assert ui["10000060"] is UIType.DESKTOP
    assert ui["10000070"] is UIType.DESKTOP  # graphical user interface
    assert ui["10000000"] is UIType.CLI  # eossr: command-line
    assert ui["10000080"] is UIType.CLI  # CORSIKA: "command line"
    assert ui["10000090"] is UIType.CLI  # applicationCategory Command-line tool
    assert ui["10000140"] is UIType.CLI  # "command-line interface" (and "fink-client" is not "cli")
    assert ui["10000130"] is UIType.WEB  # ESAP: web-application
    assert ui["10000170"] is UIType.WEB  # runtimePlatform Web browser
    assert set(ui.values()) == set(UIType)


def test_broken_codemeta_is_counted_and_the_record_kept(harvested):
    records, report, yielded_problems = harvested

    # ESAP hears of each failure through a HarvestProblem beside the record, named by ESAP's id for it
    by_record = {p.external_id: p for p in yielded_problems}
    assert set(by_record) == {concept(record_id) for record_id in (*BROKEN, SLOW)}
    assert all(p.kept for p in yielded_problems)
    assert by_record[concept(10000241)].reason.startswith("Zenodo record 10000241: codemeta.json: not JSON")

    failures = {int(f.record_id): f for f in report.failures}
    for record_id, reason in BROKEN.items():
        assert reason in failures[record_id].reason
        assert failures[record_id].kept
        record = records[concept(record_id)]
        assert record.repository_url == ""  # codemeta unread: Zenodo's metadata alone
        assert record.doi == f"10.5281/zenodo.{record_id}"
    assert records[concept(10000241)].name == "magic-cta-pipe: joint MAGIC and LST-1 analysis"
    assert report.failed == 3  # the two broken ones and the slow one
    assert report.yielded == 37


def test_the_slow_record_fails_within_the_timeout_and_stays_listed(zenodo, make_source):
    zenodo.slow_seconds = 8
    source = make_source(timeout=1)
    started = time.monotonic()
    records = by_id(source.harvest(None))
    elapsed = time.monotonic() - started

    assert elapsed < 6, f"the harvest waited for the slow record ({elapsed:.1f} s)"
    failure = next(f for f in source.last_report.failures if f.record_id == str(SLOW))
    assert failure.reason == "codemeta.json: download took longer than 1 s"
    assert failure.kept
    slow = records[concept(SLOW)]
    assert slow.name == "LST-1 analysis school notebooks"
    assert slow.ui_type is UIType.NOTEBOOK  # from Zenodo's keyword jupyter-notebook
    assert len(records) == 37


def test_html_and_script_are_kept_as_text(harvested):
    record = harvested[0][concept(SCRIPT)]

    # values that are plain text on Zenodo and in codemeta stay exactly as they were: data, not markup
    assert record.name == "<img src=x onerror=alert(4)>viewer"
    assert "<script>alert(3)</script>" in record.keywords
    assert record.authors == ("<script>Eve</script> Mallory",)
    # the HTML description is reduced to its text: no element, no script, no handler
    assert record.description == "An interactive sky viewer.\n\nWorks in any browser."
    assert record.ui_type is UIType.WEB


def test_a_huge_description_is_bounded(harvested):
    record = harvested[0][concept(HUGE)]

    assert 19_000 < len(record.description) <= 20_000
    assert record.description.startswith("The tracer follows each Cherenkov photon")
    assert record.description.endswith("…")
    assert "<p>" not in record.description


def test_codemeta_downloads_run_with_bounded_concurrency(zenodo, make_source):
    for concurrency in (1, 3):
        zenodo.reset_counters()
        list(make_source(concurrency=concurrency).harvest(None))
        # every record with files was downloaded, never more than `concurrency` at once
        assert len(zenodo.downloads()) >= 34
        assert zenodo.max_concurrent_downloads == concurrency


def test_a_record_zenodo_describes_unusably_is_counted_and_skipped(zenodo, make_source):
    zenodo.add_record({**zenodo.entry(10000151), "id": 10000991, "conceptrecid": 10000990, "title": "  "})
    source = make_source()

    items = list(source.harvest(None))
    records = by_id(items)

    assert "10000990" not in records and len(records) == 37
    (problem,) = [p for p in problems(items) if not p.kept]
    assert problem == HarvestProblem("10000990", "Zenodo record 10000991: unusable Zenodo record: no id or no title")
    failure = next(f for f in source.last_report.failures if f.record_id == "10000991")
    assert (failure.reason, failure.kept) == ("unusable Zenodo record: no id or no title", False)
    report = source.last_report.as_dict()
    assert (report["seen"], report["yielded"], report["failed"]) == (38, 37, 4)
    assert report["started"] < report["finished"]
