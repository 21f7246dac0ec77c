"""The ``dask-gateway`` facility type: Dask clusters on a Dask Gateway, on their own or beside a notebook session."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import requests

from esap_core import (
    CheckResult,
    Cluster,
    ClusterFacility,
    Facility,
    FacilityError,
    FieldType,
    InvalidValues,
    LaunchReport,
    LaunchRequest,
    Phase,
    QueryField,
    Secret,
    SessionFacility,
    UIType,
    UserContext,
    check_values,
)
from esap_dask_gateway.gateway import Gateway
from esap_dask_gateway.settings import GatewaySettings, gateway_settings, gateway_username

OPTIONS_TIMEOUT = 10.0  # seconds: the checkout page waits for the gateway's options
STOP_TIMEOUT = 30.0
POLL = 0.5  # seconds between looks at a starting cluster
SETTLE = 10.0  # seconds a cluster the gateway is stopping may take to say how it ended
WORKERS = "workers"  # ESAP's own field; the gateway's options hold everything else
# The gateway's option types (dask_gateway_server.options) as ESAP's field types; mappings have no form.
FIELD_TYPES = {
    "int": FieldType.INTEGER,
    "float": FieldType.NUMBER,
    "select": FieldType.CHOICE,
    "bool": FieldType.BOOLEAN,
    "string": FieldType.TEXT,
}


class DaskGatewayFacility(SessionFacility, ClusterFacility):
    kind = "dask-gateway"
    title = "Dask Gateway"
    description = (
        "A Dask cluster of your own on a Dask Gateway: beside a notebook session on JupyterHub or "
        "BinderHub, or on its own (its dashboard opens)."
    )
    accepts = frozenset({UIType.NOTEBOOK})
    url_settings = frozenset({"api_url", "public_url"})
    secret_settings = frozenset({"password"})

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        """The gateway's health and version, and the cluster options it offers (read as ``check_username``)."""
        try:
            settings = gateway_settings(facility)
            with _gateway(facility, settings, settings.check_username, timeout) as gateway:
                health = gateway.health()
                version = gateway.version()
                if health != "pass":
                    return CheckResult(up=False, message=f"Dask Gateway {version} says its health is {health!r}")
                options = gateway.cluster_options()
        except FacilityError as error:
            return CheckResult(up=False, message=str(error), detail=error.detail)
        names = [str(option.get("field", "")) for option in options]
        offered = f"; cluster options: {', '.join(names)}" if names else "; it offers no cluster options"
        return CheckResult(
            up=True,
            message=f"Dask Gateway {version}{offered}",
            version=version,
            metadata={"cluster_options": names, "max_workers": settings.max_workers},
        )

    def options(self, facility: Facility) -> tuple[QueryField, ...]:
        """``workers`` (1 to ``max_workers``), then the cluster options the gateway offers, with their bounds.

        Raises :class:`FacilityError` when the gateway does not answer: the page says so.
        """
        settings = gateway_settings(facility)
        with _gateway(facility, settings, settings.check_username, OPTIONS_TIMEOUT) as gateway:
            return _fields(settings, gateway.cluster_options())

    def launch(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> None:
        """A cluster on its own: start it, then send the researcher to its dashboard."""
        cluster = self.start_cluster(facility, request, report)
        report.ready(cluster.dashboard or gateway_settings(facility).public_url, f"Dask cluster {cluster.name}")

    def start_cluster(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> Cluster:
        """Ask for the cluster, wait for its scheduler, scale it and wait for the workers, within the set times."""
        settings = gateway_settings(facility)
        username = gateway_username(settings.username_template, request.user)
        _check_scheduler_address(facility, settings)
        deadline = settings.start_timeout + settings.worker_timeout + 2 * STOP_TIMEOUT
        with _gateway(facility, settings, username, deadline) as gateway:
            offered = gateway.cluster_options()
            try:
                chosen = check_values(_fields(settings, offered), request.options)
            except InvalidValues as error:
                problems = "; ".join(error.problems.values())
                raise FacilityError(f"The Dask cluster's options are not usable: {problems}") from None
            workers = chosen.pop(WORKERS)
            report.phase(Phase.LAUNCHING, f"Asking {facility.label} for a Dask cluster with {_workers(workers)}", 0)
            name = gateway.create(_gateway_values(offered, chosen))
            report.detail(cluster=name)
            try:
                return _start(gateway, settings, name, workers, report)
            except FacilityError:
                _stop_quietly(gateway, name)
                raise

    def stop_cluster(self, facility: Facility, name: str, user: UserContext) -> None:
        settings = gateway_settings(facility)
        username = gateway_username(settings.username_template, user)
        with _gateway(facility, settings, username, STOP_TIMEOUT) as gateway:
            gateway.stop(name)


def _check_scheduler_address(facility: Facility, settings: GatewaySettings) -> None:
    """The session's Dask client connects there on its own: hand it over only if the guard would connect there."""
    try:
        facility.check_address(f"http://{settings.scheduler_address}/")
    except requests.ConnectionError as error:  # AddressRefused, or a host that cannot be found
        raise FacilityError(
            f"ESAP does not send sessions to the scheduler address {settings.scheduler_address}: {error}"
        ) from None


def _gateway(facility: Facility, settings: GatewaySettings, username: str, timeout: float) -> Gateway:
    return Gateway(facility, settings.api_url, username, settings.password.reveal(), time.monotonic() + timeout)


def _fields(settings: GatewaySettings, options: list[dict[str, Any]]) -> tuple[QueryField, ...]:
    workers = QueryField(
        name=WORKERS,
        label="Workers",
        type=FieldType.INTEGER,
        required=True,
        default=settings.default_workers,
        minimum=1,
        maximum=settings.max_workers,
        help=f"1 to {settings.max_workers}",
    )
    return (workers, *(field for option in options if (field := _field(option)) is not None))


def _field(option: Mapping[str, Any]) -> QueryField | None:
    """One of the gateway's cluster options as a checkout field, or None when it has no form (a mapping)."""
    name, spec = option.get("field"), option.get("spec")
    if not isinstance(name, str) or not name.isidentifier() or name == WORKERS or not isinstance(spec, dict):
        return None
    kind = FIELD_TYPES.get(str(spec.get("type")))
    if kind is None:
        return None
    label = str(option.get("label") or name)
    default = option.get("default")
    if kind is FieldType.CHOICE:
        choices = tuple(str(choice) for choice in spec.get("options") or ())
        if not choices:
            return None
        return QueryField(name, label, kind, default=str(default) if default is not None else None, choices=choices)
    low, high = _bound(spec.get("min")), _bound(spec.get("max"))
    bounds = " to ".join(f"{bound:g}" for bound in (low, high) if bound is not None)
    return QueryField(name, label, kind, default=default, minimum=low, maximum=high, help=bounds)


def _bound(value: Any) -> float | None:
    # The gateway sends no bound as null, and an infinite one as a very large number.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if number and abs(value) < 1e300 else None


def _gateway_values(offered: list[dict[str, Any]], chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The checked values as the gateway takes them: a choice as the very value it offered (not its text)."""
    values = dict(chosen)
    for option in offered:
        name, spec = option.get("field"), option.get("spec")
        if name in values and isinstance(spec, dict) and spec.get("type") == "select":
            values[name] = next(choice for choice in spec.get("options") or () if str(choice) == values[name])
    return values


def _start(gateway: Gateway, settings: GatewaySettings, name: str, workers: int, report: LaunchReport) -> Cluster:
    report.phase(Phase.LAUNCHING, f"Dask cluster {name} requested; waiting for its scheduler", 5)
    running = _wait_for_scheduler(gateway, name, time.monotonic() + settings.start_timeout, settings.start_timeout)
    dashboard = f"{settings.public_url}{running['dashboard_route']}" if running.get("dashboard_route") else ""
    report.phase(Phase.LAUNCHING, f"Scheduler running{f'; dashboard: {dashboard}' if dashboard else ''}", 20)
    said = gateway.scale(name, workers)
    if said:
        report.log(f"Dask Gateway: {said}")
    _wait_for_workers(gateway, name, workers, settings.worker_timeout, said, report)
    return Cluster(
        name=name,
        dashboard=dashboard,
        connection={
            "kind": "dask",
            "address": settings.public_url,
            "proxy_address": f"gateway://{settings.scheduler_address}",
            "cluster": name,
        },
        credentials={
            "tls_cert": Secret(str(running.get("tls_cert") or ""), f"Dask cluster {name}"),
            "tls_key": Secret(str(running.get("tls_key") or ""), f"Dask cluster {name}"),
        },
    )


def _wait_for_scheduler(gateway: Gateway, name: str, deadline: float, allowed: float) -> dict[str, Any]:
    """The cluster's report once it runs (with its TLS credentials); FacilityError when it ends or takes too long."""
    while True:
        report = gateway.cluster(name)
        status = report.get("status") if report else "GONE"
        if status == "RUNNING" and report and report.get("tls_key"):
            return report
        if status not in ("PENDING", "RUNNING"):
            status = _settled(gateway, name, status)
            raise FacilityError(
                f"Dask Gateway ended the cluster {name} before its scheduler ran (status {status}); "
                "the gateway's log says why"
            )
        if time.monotonic() > deadline:
            raise FacilityError(f"The Dask cluster's scheduler did not start within {allowed:.0f} s (start_timeout)")
        time.sleep(POLL)


def _wait_for_workers(
    gateway: Gateway, name: str, wanted: int, allowed: float, said: str, report: LaunchReport
) -> None:
    deadline = time.monotonic() + allowed
    joined = -1
    while True:
        count = gateway.workers(name)
        if count is None:
            # No dashboard to count on (or the cluster is gone): the gateway's status tells which.
            status = (gateway.cluster(name) or {}).get("status", "GONE")
            if status != "RUNNING":
                status = _settled(gateway, name, status)
                raise FacilityError(
                    f"Dask Gateway ended the cluster {name} while its workers started (status {status}): "
                    f"they could not start{f'; it said: {said}' if said else ''}; the gateway's log says why"
                )
        elif count != joined:
            joined = count
            report.phase(
                Phase.LAUNCHING, f"Workers joining: {joined} of {wanted}", 20 + 80 * min(joined, wanted) / wanted
            )
        if joined >= wanted:
            return
        if time.monotonic() > deadline:
            raise FacilityError(
                f"Only {max(joined, 0)} of {_workers(wanted)} joined the Dask cluster within {allowed:.0f} s "
                f"(worker_timeout), so it was stopped{f'. Dask Gateway said: {said}' if said else ''}"
            )
        time.sleep(POLL)


def _settled(gateway: Gateway, name: str, status: str) -> str:
    """The status a stopping cluster ends in (STOPPED, or FAILED when it gave up): what the message should name."""
    until = time.monotonic() + SETTLE
    while status == "STOPPING" and time.monotonic() < until:
        time.sleep(POLL)
        status = (gateway.cluster(name) or {}).get("status", "GONE")
    return status


def _stop_quietly(gateway: Gateway, name: str) -> None:
    """Give back a cluster that could not be made ready; the original failure is what the researcher sees."""
    gateway.deadline = max(gateway.deadline, time.monotonic() + STOP_TIMEOUT)
    with contextlib.suppress(FacilityError):
        gateway.stop(name)


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count != 1 else ''}"
