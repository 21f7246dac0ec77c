"""Which BinderHub provider and spec build a software record (``gh/<owner>/<repo>/<ref>``...).

The record comes from a catalogue and is untrusted: names are checked, everything
else is URL-escaped the way each BinderHub provider expects (binderhub/repoproviders.py).
"""

import re
import urllib.parse

from esap_core import FacilityError, SoftwareRecord

NAME = re.compile(r"[A-Za-z0-9_.-]+")
DOI = re.compile(r"10\.\d{4,9}/\S+")
SSH_URL = re.compile(r"([\w-]+@[\w.-]+):(.+)")
GIT_PROTOCOLS = {"http", "https", "git", "ssh"}


def provider_spec(software: SoftwareRecord) -> str:
    """Return ``<provider>/<spec>`` for ``software``, or raise FacilityError saying why not."""
    url = software.repository_url.strip()
    ref = software.ref.strip() or "HEAD"
    if url:
        return _repository_spec(software.name, url, ref)
    doi = _bare_doi(software.doi)
    if doi:
        return "zenodo/" + urllib.parse.quote(doi, safe="/")
    raise FacilityError(f"{software.name!r} has neither a repository URL nor a DOI: BinderHub cannot build it.")


def _repository_spec(name: str, url: str, ref: str) -> str:
    if ssh := SSH_URL.fullmatch(url):
        url = f"ssh://{ssh.group(1)}/{ssh.group(2)}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in GIT_PROTOCOLS or not parts.hostname:
        raise FacilityError(f"The repository URL of {name!r} is not a git URL BinderHub can clone: {url!r}")
    # Browser URLs such as .../-/tree/main or .../tree/main still name the repository.
    path = parts.path.split("/-/")[0].strip("/").removesuffix(".git")
    segments = path.split("/")
    host = parts.hostname.lower().removeprefix("www.")
    quoted_ref = urllib.parse.quote(ref, safe="")
    if host == "github.com" and parts.scheme in {"http", "https"}:
        owner, repo = _names(name, url, segments[:2])
        return f"gh/{owner}/{repo}/{urllib.parse.quote(ref, safe='/')}"
    if host == "gitlab.com" and parts.scheme in {"http", "https"}:
        namespace = "/".join(_names(name, url, segments))
        return f"gl/{urllib.parse.quote(namespace, safe='')}/{quoted_ref}"
    return f"git/{urllib.parse.quote(url, safe='')}/{quoted_ref}"


def _names(name: str, url: str, segments: list[str]) -> list[str]:
    if len(segments) < 2 or not all(NAME.fullmatch(segment) for segment in segments):
        raise FacilityError(f"The repository URL of {name!r} does not name a repository: {url!r}")
    return segments


def _bare_doi(text: str) -> str:
    doi = text.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    return doi if DOI.fullmatch(doi) else ""
