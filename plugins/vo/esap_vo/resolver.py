"""Resolve an object name to a position with a Sesame-style name resolver (CDS Sesame XML)."""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ElementTree

import requests

from esap_core import ArchiveError, network_failure
from esap_vo.position import number
from esap_vo.session import TimeoutSession


def resolve(name: str, resolver_url: str, timeout: float) -> tuple[float, float]:
    """(ra, dec) in degrees (ICRS) of the object ``name``.

    The resolver is asked ``<resolver_url>?<name>`` and answers Sesame's XML (``-ox``):
    the first ``Resolver`` element with ``jradeg`` and ``jdedeg`` gives the position.
    Raises ArchiveError when the resolver is unreachable, answers nonsense, or does not
    know the name.
    """
    name = " ".join(name.split())
    if not name:
        raise ValueError("give an object name to resolve")
    if not resolver_url:
        raise ArchiveError("No name resolver is configured ([plugins.vo] name_resolver_url): search by position.")
    url = f"{resolver_url}?{urllib.parse.quote(name)}"
    try:
        with TimeoutSession(timeout) as session:
            answer = session.get(url)
        answer.raise_for_status()
        document = ElementTree.fromstring(answer.content)
    except requests.Timeout:
        raise ArchiveError(
            f"the name resolver at {resolver_url} did not answer within {timeout:g} s; give coordinates instead"
        ) from None
    except requests.RequestException as error:
        message, detail = network_failure(f"The name resolver at {resolver_url}", error)
        raise ArchiveError(f"{message} Give coordinates instead.", detail) from None
    except ElementTree.ParseError:
        raise ArchiveError(f"the name resolver at {resolver_url} did not answer in Sesame's XML format") from None
    for resolver in document.iter("Resolver"):
        ra, dec = resolver.findtext("jradeg"), resolver.findtext("jdedeg")
        if ra and dec:
            try:
                return number(ra, "RA", 0.0, 360.0), number(dec, "Dec", -90.0, 90.0)
            except ValueError as error:
                raise ArchiveError(f"the name resolver at {resolver_url} gave a bad position: {error}") from None
    raise ArchiveError(f"the name resolver does not know {name!r}")
