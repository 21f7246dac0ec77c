"""The ``rosetta`` facility type: import the software's repository as a Rosetta container, open its task page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from esap_core import (
    CheckResult,
    Facility,
    FacilityError,
    LaunchReport,
    LaunchRequest,
    Phase,
    Secret,
    SessionFacility,
    Settings,
    SettingsError,
    UIType,
)
from esap_rosetta.client import Rosetta

DEFAULT_TIMEOUT = 1800.0  # an import builds a container with repo2docker: minutes are normal


class RosettaFacility(SessionFacility):
    kind = "rosetta"
    title = "Rosetta"
    description = "Builds the software into a container on Rosetta (INAF) and opens its task creation page."
    accepts = frozenset({UIType.DESKTOP, UIType.CLI})
    personal_token_label = "your Rosetta token (from your Rosetta account page)"
    url_settings = frozenset({"url"})
    secret_settings = frozenset({"password"})

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        """The login endpoint answers; with a service account, also whether it is accepted."""
        url = _url(facility)
        rosetta = Rosetta(url, timeout, facility.http())
        try:
            account = _service_account(facility)
            if account is None:
                return CheckResult(up=True, message=f"Rosetta answers at {url}: {rosetta.probe()}")
            rosetta.login(account)
            rosetta.logout()
            return CheckResult(up=True, message=f"Rosetta answers at {url}; the service account logs in")
        except FacilityError as error:
            return CheckResult(up=False, message=str(error), detail=error.detail)
        finally:
            rosetta.close()

    def launch(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> None:
        url = _url(facility)
        repository = request.software.repository_url
        if urlsplit(repository).scheme not in ("http", "https"):
            raise FacilityError(f"Rosetta imports git repositories by http(s) URL; this software has {repository!r}")
        credentials = _credentials(facility, request.personal_token)
        rosetta = Rosetta(url, _timeout(facility), facility.http())
        try:
            report.phase(Phase.WAITING, f"logging in to Rosetta at {url}")
            rosetta.login(credentials)
            ref = request.software.ref
            report.phase(Phase.BUILDING, f"Rosetta is importing {repository}{f' at {ref}' if ref else ''}")
            container_uuid = rosetta.import_repository(repository, ref)
            report.detail(container_uuid=container_uuid)
            report.log(f"Rosetta imported the repository as container {container_uuid}")
            if "authtoken" not in credentials:
                rosetta.logout()  # the service account's session is of no use to the researcher
        finally:
            rosetta.close()
        report.ready(
            f"{url}/new_task/?step=two&task_container_uuid={container_uuid}",
            "choose where to run the task on Rosetta",
        )

    # Rosetta's API has no way to stop a task: ``stop`` stays the base class's.


def _url(facility: Facility) -> str:
    url = _setting(facility, lambda values: values.url("url", facility.url or "")).rstrip("/")
    if not url:
        raise FacilityError(f"facility {facility.name!r}: the Rosetta URL must be http(s), got {url!r}")
    return url


def _timeout(facility: Facility) -> float:
    return float(_setting(facility, lambda values: values.number("timeout", DEFAULT_TIMEOUT, positive=True)))


def _service_account(facility: Facility) -> dict[str, str] | None:
    username = _setting(facility, lambda values: values.text("username"))
    password = _setting(facility, lambda values: values.secret("password"))
    return {"username": username, "password": password.reveal()} if username and password else None


def _setting(facility: Facility, read: Callable[[Settings], Any]) -> Any:
    try:
        return read(facility.settings)
    except SettingsError as error:
        raise FacilityError(str(error)) from None


def _credentials(facility: Facility, personal_token: Secret | None) -> dict[str, str]:
    """The researcher's own Rosetta token when they keep one on their profile, else the service account."""
    token = personal_token.reveal() if personal_token is not None else ""
    if token:
        return {"authtoken": token}
    account = _service_account(facility)
    if account is None:
        raise FacilityError(
            "no Rosetta credentials: keep your Rosetta token on your ESAP profile page, "
            "or ask the admin to set a service account for this facility"
        )
    return account
