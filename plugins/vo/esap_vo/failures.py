"""Turn what VO services and the network throw at us into ArchiveErrors a researcher can read."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from xml.parsers.expat import ExpatError

import requests

from esap_core import ArchiveError, network_failure, network_reason

# A service's own error message is shown, but a long one (an HTML page) is cut short.
MAX_REASON = 300


def short(text: object) -> str:
    """One line of at most MAX_REASON characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def network_message(error: BaseException, service: str, timeout: float) -> str | None:
    """The message for a network failure, or None when ``error`` is not one."""
    if isinstance(error, requests.Timeout):
        return f"{service} did not answer within {timeout:g} s"
    if isinstance(error, requests.ConnectionError):
        return network_failure(service, error)[0]
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"{service} answered HTTP {error.response.status_code}"
    return None


def dal_message(error: Exception, service: str, timeout: float) -> str | None:
    """The message for one of pyvo's DAL errors, or None when ``error`` is not one."""
    from pyvo.dal import exceptions

    cause = getattr(error, "cause", None)
    if isinstance(error, exceptions.DALAccessError) and isinstance(cause, requests.RequestException):
        return network_message(cause, service, timeout) or f"{service} failed: {short(cause)}"
    if isinstance(error, exceptions.DALQueryError):
        return f"{service} rejected the query: {short(error.reason)}"
    if isinstance(error, exceptions.DALFormatError):
        return f"{service} did not answer with a valid VOTable ({short(error.reason)})"
    if isinstance(error, exceptions.DALServiceError):
        if error.code:
            return f"{service} answered HTTP {error.code}: {short(error.reason)}"
        return f"{service} did not answer as a VO service should ({short(error.reason)})"
    if isinstance(error, exceptions.DALAccessError):
        return f"{service} failed: {short(error.reason)}"
    return None


@contextmanager
def upstream(service: str, timeout: float) -> Iterator[None]:
    """Run a call to ``service``, raising an ArchiveError (without traceback text) when it fails.

    Metadata from services is untrusted and often slightly off the standards: astropy's
    VOTable warnings are silenced, but an element pyvo does not know at all (an HTML page
    instead of a VOSI document) is an error.
    """
    from astropy.io.votable.exceptions import VOWarning
    from pyvo.utils.xml.exceptions import UnknownElementWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)
            warnings.simplefilter("error", UnknownElementWarning)
            yield
    except ArchiveError:
        raise
    except requests.RequestException as error:
        message = network_message(error, service, timeout) or f"{service} failed to answer"
        raise ArchiveError(message, network_reason(error)) from None
    except (ExpatError, UnicodeDecodeError, UnknownElementWarning) as error:
        raise ArchiveError(f"{service} did not answer with a VOTable ({short(error)})") from None
    except Exception as error:
        message = dal_message(error, service, timeout) or votable_message(error, service)
        if message is None:
            raise
        cause = getattr(error, "cause", None)  # pyvo keeps the network's error there
        raise ArchiveError(message, network_reason(cause) if isinstance(cause, BaseException) else "") from None


def votable_message(error: Exception, service: str) -> str | None:
    """The message for a VOTable that astropy could not parse, or None."""
    from astropy.io.votable.exceptions import VOTableSpecError

    if isinstance(error, VOTableSpecError):
        return f"{service} did not answer with a usable VOTable ({short(error)})"
    return None
