"""The zenodo publisher against the local Zenodo: a record with its files and crate, new versions, and refusals
that read as sentences."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest

from esap_core import Creator, PublishError, RelatedIdentifier, Secret, Upload


def test_publishing_gives_a_doi_and_carries_the_crate(
    publisher, token, zenodo_deposit_api, make_publication, make_upload
):
    related = (
        RelatedIdentifier("10.5281/zenodo.3572293", "isDerivedFrom", "doi"),
        RelatedIdentifier("https://esap.example.org/launches/abc", "isDocumentedBy", "url"),
        RelatedIdentifier("ivo://astron.nl/lofar/lotss", "isDerivedFrom", "ivoid"),
    )
    published = publisher.publish(make_publication(related=related, keywords=("M31",)), token, timeout=10)

    record = zenodo_deposit_api.server.published(published.record_id)
    assert published.doi == f"10.5281/zenodo.{published.record_id}"
    assert published.url == f"{zenodo_deposit_api.url}/records/{published.record_id}"
    assert sorted(record.files) == ["ro-crate-metadata.json", "spectrum.csv"]
    assert json.loads(record.files["ro-crate-metadata.json"].path.read_text())["@graph"] == []
    metadata = record.metadata
    assert metadata["creators"] == [{"name": "Doe, Jane", "affiliation": "ASTRON", "orcid": "0000-0002-1825-0097"}]
    assert (
        metadata["description"]
        == "<p>Results of a notebook run.</p><p>Second paragraph &lt;with&gt; angle brackets.</p>"
    )
    assert metadata["keywords"] == ["M31"] and metadata["upload_type"] == "dataset"
    assert [r["identifier"] for r in metadata["related_identifiers"]] == [
        "10.5281/zenodo.3572293",
        "https://esap.example.org/launches/abc",
    ]
    assert "ivo://astron.nl/lofar/lotss" in metadata["notes"]  # Zenodo refuses IVOA identifiers as related ones


def test_a_new_version_replaces_the_files_and_keeps_the_concept(
    publisher, token, zenodo_deposit_api, make_publication, make_upload
):
    first = publisher.publish(make_publication(), token, timeout=10)
    files = (make_upload("spectrum-v2.csv", b"wavelength,flux\n656.3,2.0\n"),)
    second = publisher.publish(make_publication(files=files, new_version_of=first.record_id), token, timeout=10)

    old, new = (
        zenodo_deposit_api.server.published(first.record_id),
        zenodo_deposit_api.server.published(second.record_id),
    )
    assert second.doi != first.doi and new.conceptrecid == old.conceptrecid
    assert sorted(new.files) == ["ro-crate-metadata.json", "spectrum-v2.csv"]
    with pytest.raises(PublishError, match=r"Only the latest version .* can get a new version"):
        publisher.publish(make_publication(new_version_of=first.record_id), token, timeout=10)


def test_a_refused_field_is_named_and_no_draft_is_left(
    publisher, token, zenodo_deposit_api, make_publication, make_upload
):
    before = set(zenodo_deposit_api.server.depositions)
    with pytest.raises(PublishError) as refused:
        publisher.publish(make_publication(creators=(Creator(" "),)), token, timeout=10)
    assert str(refused.value) == (
        "Zenodo refused setting the metadata (HTTP 400): Validation error: creators 1, name: Name is required."
    )
    assert set(zenodo_deposit_api.server.depositions) == before


def test_a_wrong_token_is_said_to_be_wrong(publisher, make_publication):
    with pytest.raises(PublishError, match=r"HTTP 401.*Check the Zenodo token on your profile page"):
        publisher.publish(make_publication(), Secret("not-a-token", "test"), timeout=10)


def test_a_rate_limit_says_when_to_try_again(publisher, token, zenodo_deposit_api, make_publication, make_upload):
    zenodo_deposit_api.server.rate_limit, zenodo_deposit_api.server.rate_window = 3, 30
    with pytest.raises(PublishError) as limited:
        publisher.publish(make_publication(), token, timeout=10)  # create, two PUTs, metadata, publish: five
    assert "HTTP 429" in str(limited.value) and "try again in" in str(limited.value)
    assert 1 <= limited.value.retry_after <= 31


def test_a_large_file_is_streamed(publisher, token, zenodo_deposit_api, make_publication, make_upload):
    size = 96 * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB

    class Generated(io.RawIOBase):
        """96 MiB made on the fly: the file is never in memory on either side."""

        def __init__(self):
            self.left = size

        def readable(self):
            return True

        def readinto(self, buffer):
            count = min(len(buffer), self.left, len(block))
            buffer[:count] = block[:count]
            self.left -= count
            return count

    tracemalloc.start()
    published = publisher.publish(make_publication(files=(Upload("big.bin", size, Generated),)), token, timeout=60)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stored = zenodo_deposit_api.server.published(published.record_id).files["big.bin"]
    assert stored.size == size and stored.path.stat().st_size == size
    assert peak < 8 * 1024 * 1024, f"publishing held {peak} bytes at once"
    assert zenodo_deposit_api.server.largest_read <= 64 * 1024


def test_nothing_to_publish_and_clashing_names_are_refused_before_zenodo_is_asked(
    publisher, token, zenodo_deposit_api, make_publication, make_upload
):
    before = set(zenodo_deposit_api.server.depositions)
    with pytest.raises(PublishError, match="choose at least one file"):
        publisher.publish(make_publication(files=(), provenance=""), token, timeout=10)
    with pytest.raises(PublishError, match="same name"):
        publisher.publish(make_publication(files=(make_upload("a", b"1"), make_upload("a", b"2"))), token, timeout=10)
    with pytest.raises(PublishError, match="ro-crate-metadata.json"):
        publisher.publish(make_publication(files=(make_upload("ro-crate-metadata.json", b"{}"),)), token, timeout=10)
    assert set(zenodo_deposit_api.server.depositions) == before


def test_an_unreachable_zenodo_is_reported(token, make_publication):
    from esap_zenodo.publisher import ZenodoPublisher
    from esap_zenodo.settings import zenodo_settings

    from esap_core import Settings
    from esap_core.testing import free_port

    gone = ZenodoPublisher(zenodo_settings(Settings("zenodo", {"url": f"http://127.0.0.1:{free_port()}"})))
    with pytest.raises(PublishError, match="Zenodo could not be reached while creating the record"):
        gone.publish(make_publication(), token, timeout=5)
