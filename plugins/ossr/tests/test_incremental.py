"""Incremental harvests: with ``since``, only the records Zenodo updated are fetched and yielded."""

from datetime import UTC, datetime, timedelta

from esap_core import SoftwareRecord, UIType

NEW_NOTEBOOKS = {
    "id": 10000901,
    "conceptrecid": 10000900,
    "title": "Pulsar timing tutorial",
    "description": "<p>Notebooks on pulsar timing with PINT.</p>",
    "version": "1.0",
    "license": "cc-by-4.0",
    "keywords": ["pulsars", "timing"],
    "creators": [["Ransom, Scott", "NRAO"]],
    "files": [
        {
            "key": "codemeta.json",
            "json": {
                "@context": "https://doi.org/10.5063/schema/codemeta-2.0",
                "name": "pulsar-timing-tutorial",
                "codeRepository": "https://github.com/example/pulsar-timing-tutorial",
                "runtimePlatform": "Python 3.11",
                "keywords": ["jupyter-notebook", "pulsars"],
                "author": [{"@type": "Person", "givenName": "Scott", "familyName": "Ransom"}],
            },
        }
    ],
}


def test_an_incremental_harvest_yields_only_what_changed(zenodo, make_source):
    source = make_source()
    first = {r.external_id: r for r in source.harvest(None) if isinstance(r, SoftwareRecord)}
    since = source.last_report.started
    assert len(first) == 37

    eossr_codemeta = zenodo.entry(10000001)["files"][0]["json"]
    zenodo.update_record(
        10000001,
        title="eossr: the ESCAPE OSSR library (2.4)",
        version="v2.4.0",
        codemeta={**eossr_codemeta, "version": "v2.4.0", "keywords": ["OSSR", "gui"]},
    )
    zenodo.update_record(
        10000241,
        codemeta={"name": "magic-cta-pipe", "codeRepository": "https://github.com/cta-observatory/magic-cta-pipe"},
    )
    zenodo.add_record(NEW_NOTEBOOKS)
    zenodo.reset_counters()

    second = list(source.harvest(since))

    assert {r.external_id for r in second} == {"10000000", "10000240", "10000900"}
    report = source.last_report
    assert (report.seen, report.yielded, report.unchanged, report.failed) == (38, 3, 35, 0)
    # codemeta.json was downloaded for the changed records only
    assert sorted(zenodo.downloads()) == [
        f"/api/records/{record_id}/files/codemeta.json/content" for record_id in (10000001, 10000241, 10000901)
    ]
    records = {r.external_id: r for r in second}
    eossr = records["10000000"]
    assert eossr.version == "v2.4.0"
    assert eossr.ui_type is UIType.DESKTOP  # its keywords changed from command-line to gui
    assert eossr.updated > first["10000000"].updated
    # the broken codemeta was fixed upstream: the record now has its repository
    assert records["10000240"].repository_url == "https://github.com/cta-observatory/magic-cta-pipe"
    new = records["10000900"]
    assert (new.name, new.ui_type, new.authors) == ("pulsar-timing-tutorial", UIType.NOTEBOOK, ("Scott Ransom",))


def test_a_record_updated_shortly_before_since_is_fetched_again(zenodo, make_source):
    # Zenodo's clock and ours may differ: an edit just before `since` must not be missed.
    zenodo.update_record(10000011, title="Gammapy 1.2 (edited)")
    source = make_source()

    records = list(source.harvest(datetime.now(UTC) + timedelta(minutes=5)))

    assert [r.external_id for r in records] == ["10000009"]


def test_a_naive_since_is_taken_as_utc(make_source):
    source = make_source()

    assert list(source.harvest(datetime(2030, 1, 1))) == []
    assert source.last_report.since == datetime(2030, 1, 1, tzinfo=UTC)
    assert source.last_report.unchanged == 37
