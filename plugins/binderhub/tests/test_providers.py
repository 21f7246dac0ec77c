"""Which BinderHub provider builds a software record, checked against the local BinderHub."""

import pytest
from esap_binderhub.facility import BinderHub
from esap_binderhub.specs import provider_spec

from esap_core import FacilityError, SoftwareRecord


def software(url: str = "", ref: str = "", doi: str = "") -> SoftwareRecord:
    return SoftwareRecord(external_id="t", name="demo", repository_url=url, ref=ref, doi=doi)


@pytest.mark.parametrize(
    ("url", "ref", "doi", "spec"),
    [
        ("https://github.com/escape2020/demo", "v1.0", "", "gh/escape2020/demo/v1.0"),
        ("https://github.com/escape2020/demo.git", "", "", "gh/escape2020/demo/HEAD"),
        ("https://www.github.com/escape2020/demo/tree/main/nb", "feature/x", "", "gh/escape2020/demo/feature/x"),
        ("https://gitlab.com/group/sub/project", "main", "", "gl/group%2Fsub%2Fproject/main"),
        ("https://gitlab.com/group/project/-/tree/dev", "dev", "", "gl/group%2Fproject/dev"),
        (
            "https://git.astron.nl/eosc/notebooks.git",
            "release/2",
            "",
            "git/https%3A%2F%2Fgit.astron.nl%2Feosc%2Fnotebooks.git/release%2F2",
        ),
        ("git@github.com:owner/repo.git", "", "", "git/ssh%3A%2F%2Fgit%40github.com%2Fowner%2Frepo.git/HEAD"),
        ("", "", "10.5281/zenodo.3242074", "zenodo/10.5281/zenodo.3242074"),
        ("", "", "https://doi.org/10.5281/zenodo.42", "zenodo/10.5281/zenodo.42"),
        ("", "", "doi:10.5281/zenodo.7", "zenodo/10.5281/zenodo.7"),
    ],
)
def test_provider_spec(url, ref, doi, spec):
    assert provider_spec(software(url, ref, doi)) == spec


@pytest.mark.parametrize(
    ("url", "doi", "message"),
    [
        ("", "", "neither a repository URL nor a DOI"),
        ("", "not-a-doi", "neither a repository URL nor a DOI"),
        ("ftp://example.org/repo", "", "not a git URL BinderHub can clone"),
        ("https://github.com/only-owner", "", "does not name a repository"),
        ("https://github.com/own;er/repo", "", "does not name a repository"),
    ],
)
def test_records_binderhub_cannot_build(url, doi, message):
    with pytest.raises(FacilityError, match=message):
        provider_spec(software(url, doi=doi))


@pytest.mark.parametrize(
    ("record", "provider", "spec", "repo_url"),
    [
        (
            software("https://github.com/esap-tests/mapped", "v3"),
            "gh",
            "esap-tests/mapped/v3",
            "https://github.com/esap-tests/mapped",
        ),
        (
            software("https://gitlab.com/esap/nested/mapped", "dev"),
            "gl",
            "esap%2Fnested%2Fmapped/dev",
            "https://gitlab.com/esap/nested/mapped.git",
        ),
        (
            software("https://git.example.org/esap/mapped.git", "main"),
            "git",
            "https%3A%2F%2Fgit.example.org%2Fesap%2Fmapped.git/main",
            "https://git.example.org/esap/mapped.git",
        ),
        (software(doi="10.5281/zenodo.3242074"), "zenodo", "10.5281/zenodo.3242074", "10.5281/zenodo.3242074"),
    ],
)
def test_each_provider_launches(record, provider, spec, repo_url, hub, report, make_request, binderhub_server):
    BinderHub().launch(hub(), make_request(record), report)

    build = binderhub_server.builds_of(provider)[-1]
    assert build.spec == spec
    assert build.accept == "text/event-stream"
    assert report.details["repo_url"] == repo_url
    assert report.ready_url.startswith("http://127.0.0.1:")
    if provider == "zenodo":
        assert "commit" not in report.details
        assert report.details["ref_url"] == "https://doi.org/10.5281/zenodo.3242074"
