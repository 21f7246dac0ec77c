"""The plugin contract: the hooks ESAP calls, the objects a plugin registers, and what they may do.

Every hook is register-style: ESAP calls it once per plugin, at start-up, with
``register`` (a callable taking one object) and ``settings`` (the plugin's own
section of the configuration). The plugin creates its objects and registers them;
ESAP validates them, rejects duplicate names with a message that names both
plugins, and owns the order (built-in plugins first, then the others by name).

An object's optional abilities are **capabilities**: classes below that extend the
base class with methods ESAP calls only on objects that are instances of them (an
archive that is also a :class:`DidCatalogue`, a facility type that is also a
:class:`JobFacility`). Subclass every capability you implement; ESAP asks
``isinstance`` and never looks for methods by name. This module is the whole
contract: ESAP calls no method of a plugin's object that is not declared here.

An implementation may take fewer arguments than the spec (``register`` alone is
fine). Objects registered here are long-lived and shared between requests and
threads: keep per-call state in the arguments, not on ``self``. Reach the network
for addresses users chose only through :meth:`Facility.http` or
:class:`esap_core.GuardedSession`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, Protocol

import pluggy

if TYPE_CHECKING:
    from esap_core.outbound import GuardedSession

hookspec = pluggy.HookspecMarker("esap")
hookimpl = pluggy.HookimplMarker("esap")


# --- secrets and settings ------------------------------------------------------------


class Secret:
    """A secret kept out of logs and pages: ``str()`` and ``repr()`` hide it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str):
        self._value = value
        self.source = source  # where it came from, such as "env:ESAP_SECRET_KEY"

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it is (plugin or facility), the key and why."""

    def __init__(self, where: str, key: str, reason: str):
        self.where, self.key, self.reason = where, key, reason
        super().__init__(f"{where}: setting {key!r} {reason}")


class Settings(Mapping[str, Any]):
    """A plugin's own configuration section, or a facility's settings (read-only).

    Values are plain TOML values, except secrets, which arrive as :class:`Secret`
    objects: call ``reveal()`` at the moment of use. Read them with the typed
    accessors, which raise one :class:`SettingsError` naming the key and the reason.
    A plugin that offers public services by default (a registry, a catalogue) registers
    them only when ``offline`` is false, so ``ESAP_OFFLINE`` makes ESAP contact nothing
    its configuration does not name.
    """

    def __init__(self, plugin: str, values: Mapping[str, Any], offline: bool = False):
        self.plugin = plugin  # the plugin's name, or "facility:<name>" for a facility's settings
        self._values = dict(values)
        # ESAP_OFFLINE: register no public default service; only what these settings name.
        self.offline = offline

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({self.plugin!r}, {sorted(self._values)!r})"

    @property
    def where(self) -> str:
        """Where these settings live, for messages: ``facility 'my-hub'`` or ``[plugins.vo]``."""
        kind, _, name = self.plugin.partition(":")
        return f"facility {name!r}" if kind == "facility" and name else f"[plugins.{self.plugin}]"

    def _problem(self, key: str, reason: str) -> SettingsError:
        return SettingsError(self.where, key, reason)

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
        integer: bool = False,
    ) -> float | int | None:
        """A number within bounds (``positive``: more than 0); ``default`` when the key is absent."""
        value = self._values.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._problem(key, f"must be a number, not {value!r}")
        if integer and value != int(value):
            raise self._problem(key, f"must be a whole number, not {value!r}")
        if positive and value <= 0:
            raise self._problem(key, f"must be a positive number, not {value!r}")
        if minimum is not None and value < minimum:
            raise self._problem(key, f"must be at least {minimum:g}, not {value!r}")
        if maximum is not None and value > maximum:
            raise self._problem(key, f"must be at most {maximum:g}, not {value!r}")
        return int(value) if integer else float(value)

    def flag(self, key: str, default: bool = False) -> bool:
        """``true`` or ``false``; ``default`` when the key is absent."""
        value = self._values.get(key, default)
        if not isinstance(value, bool):
            raise self._problem(key, f"must be true or false, not {value!r}")
        return value

    def text(self, key: str, default: str = "", *, choices: Sequence[str] = ()) -> str:
        """A string (one of ``choices`` when given); ``default`` when the key is absent."""
        value = self._values.get(key, default)
        if not isinstance(value, str):
            raise self._problem(key, f"must be text, not {type(value).__name__}")
        if choices and value not in choices:
            raise self._problem(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def secret(self, key: str, *, required: bool = False) -> Secret | None:
        """A secret; ``None`` when absent.

        The configuration references secrets from the environment (``{ env = "NAME" }``);
        a researcher registering a facility of their own types the facility type's
        :attr:`FacilityType.secret_settings`, which ESAP keeps encrypted. Either way the value
        arrives as a :class:`Secret`, revealed at the moment of use; plain text is refused.
        """
        value = self._values.get(key)
        if value is None or value == "":
            if required:
                raise self._problem(key, 'is required: reference it from the environment, as { env = "NAME" }')
            return None
        if not isinstance(value, Secret):
            raise self._problem(key, 'is a secret: reference it from the environment, as { env = "NAME" }')
        return value

    def url(self, key: str, default: str = "") -> str:
        """An http(s) URL that ESAP's outbound guard accepts (the address itself is checked when used)."""
        from esap_core.outbound import AddressRefused, check_url

        value = self._values.get(key, default)
        if value == "":
            return ""
        try:
            return check_url(value)
        except AddressRefused as error:
            raise self._problem(key, f"is not a usable URL: {error}") from None

    def fields(self, fields: Iterable[QueryField]) -> dict[str, Any]:
        """The values of ``fields`` in these settings, checked as a form's would be (:func:`check_values`)."""
        try:
            return check_values(fields, self._values)
        except InvalidValues as error:
            key, reason = next(iter(error.problems.items()))
            raise self._problem(key, reason) from None


# --- who a call is for -----------------------------------------------------------------


class CredentialsExpired(Exception):
    """The user's delegated token could not be refreshed: they must log in again."""


@dataclass(frozen=True)
class UserContext:
    """Who a call is made for, without the web request or the database.

    ``access_token()`` returns a fresh delegated OIDC access token for the user
    (refreshing it when needed) or raises :class:`CredentialsExpired`; it is
    ``None``-returning for the local single-user mode, which has no issuer.
    """

    username: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    is_admin: bool = False
    access_token: Callable[[], str | None] = lambda: None


# --- fields: forms, API parameters, options and settings share one check -----------------


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    INTEGER = "integer"
    CHOICE = "choice"
    BOOLEAN = "boolean"


class InvalidValues(ValueError):
    """Values that do not fit their fields; ``problems`` maps each field name to what is wrong."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.problems.items()))


@dataclass(frozen=True)
class QueryField:
    """One input a user gives: an archive's query field, a facility's launch or job option.

    It drives the HTML form and the API schema, and :meth:`convert` is the one check
    every value of it goes through, wherever it comes from.
    """

    name: str
    label: str
    type: FieldType = FieldType.TEXT
    required: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 1000

    def convert(self, value: Any) -> Any:
        """``value`` as this field's type, within its bounds; ``ValueError`` with a readable reason."""
        if self.type is FieldType.BOOLEAN:
            return _boolean(value)
        if self.type in (FieldType.NUMBER, FieldType.INTEGER):
            return self._number(value)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError("must be text")
        text = str(value).strip()
        if any((ord(character) < 32 and character != "\t") or 0xD800 <= ord(character) <= 0xDFFF for character in text):
            raise ValueError("must not contain control characters")
        if len(text) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        if self.type is FieldType.CHOICE and self.choices and text not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, not {text[:40]!r}")
        return text

    def _number(self, value: Any) -> float | int:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            result = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"must be a number, not {str(value)[:40]!r}") from None
        if not math.isfinite(result):
            raise ValueError("must be a finite number")
        if self.type is FieldType.INTEGER:
            if result != int(result):
                raise ValueError("must be a whole number")
            result = int(result)
        if self.minimum is not None and result < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}, not {result:g}")
        if self.maximum is not None and result > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}, not {result:g}")
        return result


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_values(fields: Iterable[QueryField], values: Mapping[str, Any], defaults: bool = True) -> dict[str, Any]:
    """The values of ``fields`` found in ``values``, converted and checked; raises :class:`InvalidValues`.

    Blank values are left out, or take the field's default (``defaults``); other keys are ignored.
    """
    checked: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for spec in fields:
        value = values.get(spec.name)
        if blank(value):
            if defaults and spec.default is not None:
                checked[spec.name] = spec.default
            elif spec.required:
                problems[spec.name] = f"{spec.label} is required"
            continue
        try:
            checked[spec.name] = spec.convert(value)
        except ValueError as error:
            problems[spec.name] = f"{spec.label} {error}"
    if problems:
        raise InvalidValues(problems)
    return checked


# --- archives (data) --------------------------------------------------------------------


class QueryKind(enum.StrEnum):
    """Kinds of question the one-form search across all archives can ask."""

    POSITION = "position"  # fields ra, dec (degrees, ICRS), radius (degrees)
    TARGET = "target"  # field target: an object name
    KEYWORDS = "keywords"  # field keywords: free text


@dataclass(frozen=True)
class Column:
    name: str
    unit: str = ""
    ucd: str = ""
    description: str = ""
    datatype: str = ""


@dataclass(frozen=True)
class ResultPage:
    """One page of an archive's answer. ``total`` is ``None`` when unknown."""

    columns: list[Column]
    rows: list[dict[str, Any]]
    page: int = 1
    page_size: int = 50
    total: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DataItem:
    """A result row as it goes into the basket.

    ``fetch`` says how to get the data again without any plugin code, as a dict
    with a ``method`` key: ``{"method": "http", "url": ...}``,
    ``{"method": "tap", "service": ..., "adql": ...}``,
    ``{"method": "datalink", "url": ...}``,
    ``{"method": "rucio", "did": "scope:name", "host": ...}``, or a method of the
    plugin's own. ``payload`` holds everything else worth keeping (the row itself,
    size, format, a ``checksum`` such as ``adler32:...`` where the archive gives one).
    """

    identifier: str
    title: str
    fetch: Mapping[str, Any]
    payload: Mapping[str, Any] = field(default_factory=dict)


class PlainError(Exception):
    """A failure told twice: ``str(error)`` in plain words for the researcher, ``detail`` for whoever debugs it.

    Pages show the message, and the detail (a socket error, a server's raw answer) behind a
    "Technical detail" disclosure; the API returns both. Keep exception text, addresses of
    internals and stack traces out of the message; ``esap_core.network_failure`` words the
    usual network failures this way.
    """

    def __init__(self, message: str = "", detail: str = ""):
        super().__init__(message)
        self.detail = str(detail or "")


def detail_of(error: BaseException) -> str:
    """The technical detail an error carries ("" for errors that are not :class:`PlainError`)."""
    return error.detail if isinstance(error, PlainError) else ""


class ArchiveError(PlainError):
    """An archive's own failure, with a message a researcher can act on."""


class Archive:
    """A source of data: a VO service, a Rucio instance, an institute's archive.

    Subclass it and set ``name`` (unique, URL-safe), ``title``, ``description``,
    ``fields`` and ``answers``; implement ``search`` and ``basket_item``. Add the
    capabilities below that the archive has.
    """

    name: str = ""
    title: str = ""
    description: str = ""
    fields: tuple[QueryField, ...] = ()
    answers: frozenset[QueryKind] = frozenset()

    @property
    def label(self) -> str:
        """What pages call the archive: its title, or its name."""
        return self.title or self.name

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        """Answer ``query`` (values already checked against ``fields``) within ``timeout`` seconds.

        Raise :class:`ArchiveError` with a readable message on an upstream failure.
        """
        raise NotImplementedError

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        """Turn one row of a :class:`ResultPage` into a basket item."""
        raise NotImplementedError


class Service(NamedTuple):
    """A queryable service a registry row points to: ``kind`` ``tap`` (ADQL) or ``scs`` (cone search)."""

    kind: str
    url: str


@dataclass(frozen=True)
class TableInfo:
    """A table a service offers; ``columns`` are filled in when one table is asked for."""

    name: str
    description: str = ""
    columns: tuple[Column, ...] = ()


class ServiceRegistry(Archive):
    """Capability: the archive's rows are services ESAP lets the researcher query (an IVOA registry).

    ESAP shows a "query this service" link for each row :meth:`service_of` recognises,
    then the service's tables, an ADQL form (sync, or async as a job) and a cone search.
    Every method raises :class:`ArchiveError` on bad input or an upstream failure.
    """

    def service_of(self, row: Mapping[str, Any]) -> Service | None:
        """The service a result row describes, if ESAP can query it; else ``None``."""
        raise NotImplementedError

    def tables(self, service: str, user: UserContext, timeout: float) -> list[TableInfo]:
        """The tables of the TAP service at ``service`` (without their columns)."""
        raise NotImplementedError

    def table(self, service: str, name: str, user: UserContext, timeout: float) -> TableInfo:
        """One table of the service, with its columns."""
        raise NotImplementedError

    def run_query(self, service: str, statement: str, max_rows: int, user: UserContext, timeout: float) -> ResultPage:
        """Run ADQL ``statement`` synchronously, at most ``max_rows`` rows."""
        raise NotImplementedError

    def submit_query(self, service: str, statement: str, max_rows: int, user: UserContext, timeout: float) -> str:
        """Submit ``statement`` as an asynchronous (UWS) job and start it; return the job's URL."""
        raise NotImplementedError

    def job_phase(self, job: str, user: UserContext, timeout: float) -> str:
        """The UWS phase of the job at URL ``job`` (``EXECUTING``, ``COMPLETED``, ...)."""
        raise NotImplementedError

    def job_results(self, job: str, user: UserContext, timeout: float) -> ResultPage:
        """The finished job's result table."""
        raise NotImplementedError

    def cancel_job(self, job: str, user: UserContext, timeout: float) -> None:
        """Abort and delete the job."""
        raise NotImplementedError

    def cone_search(
        self, service: str, ra: Any, dec: Any, radius: Any, user: UserContext, timeout: float
    ) -> ResultPage:
        """A cone search (degrees, ICRS) on the SCS service at ``service``."""
        raise NotImplementedError

    def service_item(self, kind: str, service: str, row: Mapping[str, Any], statement: str = "") -> DataItem:
        """A row of the ``kind`` service at ``service`` as a basket item (check it again: it came from a browser).

        ``statement`` is the ADQL the row came from, for TAP.
        """
        raise NotImplementedError


class DidCatalogue(Archive):
    """Capability: data identifiers in scopes, with metadata, contents and replicas (Rucio).

    ESAP shows pages for scopes and for each DID a result row names (``row["did"]``).
    """

    def scopes(self, user: UserContext, timeout: float) -> list[str]:
        """The scopes the user may browse."""
        raise NotImplementedError

    def metadata(self, did: str, user: UserContext, timeout: float) -> dict[str, Any]:
        """The DID's metadata (type, size, checksums, ...) as JSON-safe values."""
        raise NotImplementedError

    def contents(self, did: str, page: int, user: UserContext, timeout: float) -> ResultPage:
        """What a dataset or container holds, a page at a time, rows that ``basket_item`` takes."""
        raise NotImplementedError

    def replicas(self, did: str, user: UserContext, timeout: float) -> list[dict[str, Any]]:
        """Where the DID's files are: one JSON-safe dict per file, as the DID page shows it.

        ``did`` (scope:name) is required; the page also shows ``bytes``, ``adler32``, ``md5``,
        ``rses`` (the storage elements holding it) and ``states`` (storage element to replica
        state) when given; ``pfns`` (storage element to URLs) is kept for SAMP and the API.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class StagingResult:
    """How far an archive got in making items available at a storage element before a launch.

    ``state`` is ``ready`` (all in place), ``pending`` (asked for, not there yet) or ``failed``;
    ``paths`` maps an item's identifier to where a session finds it on that storage.
    """

    state: str
    message: str = ""
    paths: Mapping[str, str] = field(default_factory=dict)


class StagingArchive(Archive):
    """Capability: the archive can put items at a facility's storage element before a launch (Rucio)."""

    def stage(self, items: Sequence[DataItem], storage: str, user: UserContext, timeout: float) -> StagingResult:
        """Make ``items`` available at ``storage`` (a facility's Rucio RSE) before a launch.

        Wait at most ``timeout`` seconds, then answer ``pending``; raise :class:`ArchiveError` when refused.
        """
        raise NotImplementedError


# --- software sources -------------------------------------------------------------------


class UIType(enum.StrEnum):
    NOTEBOOK = "notebook"
    DESKTOP = "desktop"
    CLI = "cli"
    WEB = "web"


@dataclass(frozen=True)
class SoftwareRecord:
    """A piece of software ESAP can list and launch. ``external_id`` is unique per source."""

    external_id: str
    name: str
    description: str = ""
    repository_url: str = ""
    ref: str = ""
    path: str = ""
    version: str = ""
    doi: str = ""
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    runtime_platform: str = ""
    ui_type: UIType = UIType.NOTEBOOK
    licence: str = ""
    updated: datetime | None = None


@dataclass(frozen=True)
class HarvestProblem:
    """A record the source could not read fully: yielded in place of it (``kept=False``) or beside it."""

    external_id: str
    reason: str
    kept: bool = False  # True: the record was still yielded, from what could be read


class HarvestError(PlainError):
    """The harvest as a whole failed (the catalogue answered an error page, say); the message says why."""


class SoftwareSource:
    """A catalogue of software: the OSSR community, a list of git repositories.

    Set ``name`` and ``title``; implement ``harvest``.
    """

    name: str = ""
    title: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name

    def harvest(self, since: datetime | None) -> Iterable[SoftwareRecord | HarvestProblem]:
        """Yield the source's records, and a :class:`HarvestProblem` for each record that failed.

        ``since`` is the start of the last successful harvest, if any: a source that can
        tell what changed may yield only those records (ESAP skips unchanged records
        either way, and treats a record missing from an incremental harvest as kept).
        One record's failure must not stop the harvest; raise :class:`HarvestError`
        when the whole harvest cannot go on.
        """
        raise NotImplementedError


# --- facility types (compute) -------------------------------------------------------------


@dataclass(frozen=True)
class Facility:
    """A registered compute facility as its type sees it.

    ``trusted`` facilities were registered by an admin or the configuration; a user's
    private facility is not, and :meth:`http` then refuses internal addresses (unless
    ESAP allows private facilities). Use :meth:`http` for every request to the
    facility, its settings' URLs included.
    """

    name: str
    kind: str
    url: str
    settings: Settings
    title: str = ""
    trusted: bool = False

    @property
    def label(self) -> str:
        """What messages call the facility: its title, or its name."""
        return self.title or self.name

    def http(self) -> GuardedSession:
        """A ``requests.Session`` for this facility, through ESAP's outbound guard (close it after use)."""
        from esap_core.outbound import GuardedSession

        return GuardedSession(private_ok=True if self.trusted else None)

    def check_address(self, url: str) -> str:
        """``url`` if the outbound guard would connect there for this facility; raises ``AddressRefused``.

        For addresses a plugin hands to something that connects on its own (a session's
        Dask client): the syntax and where the host resolves to now are checked with the
        policy of :meth:`http`, but nothing pins the address for the later connection.
        """
        from esap_core.outbound import check_address

        return check_address(url, private_ok=True if self.trusted else None)


@dataclass(frozen=True)
class CheckResult:
    up: bool
    message: str = ""  # plain words; the technical part goes in ``detail``
    detail: str = ""
    version: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


class FacilityError(PlainError):
    """A facility's own failure; the message is shown on the launch or job page."""


class FacilityBusy(FacilityError):
    """The facility refuses launches for a while (a rate limit, a quota), whoever asks.

    The launch fails with the message, and ESAP also shows it on the facility's page
    for ``retry_after`` seconds (an hour when ``None``), so others see it before launching.
    """

    def __init__(self, message: str, retry_after: float | None = None, detail: str = ""):
        super().__init__(message, detail)
        self.retry_after = retry_after


class FacilityType:
    """A kind of compute facility: BinderHub, JupyterHub, Rosetta, Slurm, a UWS service, Dask Gateway.

    Set ``kind`` (unique), ``title`` and ``accepts`` (the UI types it runs); implement
    ``check``. What facilities of the type can do comes from its capabilities:
    :class:`SessionFacility` (interactive sessions), :class:`StopsSessions`,
    :class:`JobFacility` (unattended jobs), :class:`ClusterFacility` (a cluster beside
    a session). ``url_settings`` names the facility settings that hold URLs: ESAP checks
    them like the facility's own URL when a facility is registered. ``secret_settings``
    names those that hold secrets (tokens, passwords): when a researcher registers a
    facility of their own and types one, ESAP keeps it encrypted, never shows it back,
    and hands it to the type as a :class:`Secret`.
    """

    kind: str = ""
    title: str = ""
    description: str = ""
    accepts: frozenset[UIType] = frozenset()
    personal_token_label: str = ""  # set it when users may keep a token of their own for these facilities
    url_settings: frozenset[str] = frozenset()
    secret_settings: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return self.title or self.kind

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        """Say whether ``facility`` answers, with its version and metadata."""
        raise NotImplementedError

    def options(self, facility: Facility) -> tuple[QueryField, ...]:
        """The choices a user makes at checkout (a profile, a server size); they arrive in ``request.options``."""
        return ()


class Phase(enum.StrEnum):
    """Launch phases, in the order they happen. A launch ends in READY or FAILED."""

    QUEUED = "queued"
    STAGING_DATA = "staging-data"
    WAITING = "waiting"
    FETCHING = "fetching"
    BUILDING = "building"
    PUSHING = "pushing"
    BUILT = "built"
    LAUNCHING = "launching"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class LaunchRequest:
    """What to launch: the software, the data items and the user's choices.

    ``staging_notebook()`` returns the notebook (as JSON text) and the settings file
    that fetch the data items in the session; facility types put them there.
    ``personal_token`` is the token the user keeps on their profile for this facility,
    for types that declare ``personal_token_label``. ``cluster`` describes the
    cluster launched beside the session (:class:`ClusterFacility`), if any: its ``name``,
    ``dashboard`` and ``connection``; its credentials are only in the settings file.
    """

    launch_id: str
    software: SoftwareRecord
    data: tuple[DataItem, ...]
    user: UserContext
    options: Mapping[str, Any] = field(default_factory=dict)
    staging_notebook: Callable[[], Mapping[str, str]] = lambda: {}
    personal_token: Secret | None = None
    cluster: Mapping[str, Any] = field(default_factory=dict)


class LaunchReport(Protocol):
    """How a launch tells ESAP what is happening; every call is shown live."""

    def phase(self, phase: Phase, message: str = "", progress: float | None = None) -> None:
        """Enter or update ``phase``; ``progress`` is the percentage done of that phase (0 to 100)."""

    def log(self, line: str) -> None: ...

    def detail(self, **facts: Any) -> None:
        """Record provenance the facility learnt (``commit=``, ``image=``, ``cluster=``)."""

    def ready(self, url: str, message: str = "") -> None: ...

    def failed(self, message: str, detail: str = "") -> None:
        """End the launch: ``message`` in plain words, ``detail`` the technical part (shown behind a disclosure)."""


class SessionFacility(FacilityType):
    """Capability: the facility starts interactive sessions (a Jupyter server, a desktop)."""

    def launch(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> None:
        """Start the software at ``facility``; runs in a worker.

        Report phases in order and end with ``report.ready(url)``; raise
        :class:`FacilityError` (or call ``report.failed``) when it cannot.
        """
        raise NotImplementedError


class StopsSessions(SessionFacility):
    """Capability: ESAP can stop what a launch started."""

    def can_stop(self, facility: Facility) -> bool:
        """Whether sessions on ``facility`` can be stopped from ESAP (its settings may lack what stopping needs)."""
        return True

    def stop(
        self, facility: Facility, launch_id: str, user: UserContext, details: Mapping[str, str] | None = None
    ) -> None:
        """Stop the session of ``launch_id``; raise :class:`FacilityError` with the reason when it cannot.

        ``details`` is what the launch recorded with ``report.detail`` (which server it started, say).
        """
        raise NotImplementedError


class JobPhase(enum.StrEnum):
    """A job's execution phase, as IVOA UWS 1.1 names them."""

    PENDING = "PENDING"  # accepted, not yet sent to run
    QUEUED = "QUEUED"  # waiting at the facility
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    HELD = "HELD"
    SUSPENDED = "SUSPENDED"
    ARCHIVED = "ARCHIVED"

    @property
    def final(self) -> bool:
        return self in (JobPhase.COMPLETED, JobPhase.ERROR, JobPhase.ABORTED, JobPhase.ARCHIVED)


@dataclass(frozen=True)
class JobRequest:
    """What to run unattended: the software at a ref, the data items, the parameters, and how to run it.

    Exactly one of ``command`` (a shell command, run in the software's checkout) and
    ``notebook`` (a notebook's path in the repository, run headless with its parameters
    injected) is set, except for facilities that run their own service (a UWS service
    takes ``parameters`` alone). ``options`` were checked against :meth:`FacilityType.options`;
    ``parameters`` against :meth:`JobFacility.job_fields` when it declares any, and are
    otherwise the software's own (a notebook's), passed as given: names are identifiers,
    values text, numbers or booleans. ``staging()`` returns the files to put in the job's
    working directory (``esap_settings.json``: ESAP's URL and a token that reads this
    job's items). ``max_result_bytes`` bounds what ESAP takes back.
    """

    job_id: str
    software: SoftwareRecord
    data: tuple[DataItem, ...]
    user: UserContext
    parameters: Mapping[str, Any] = field(default_factory=dict)
    command: str = ""
    notebook: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    staging: Callable[[], Mapping[str, str]] = lambda: {}
    personal_token: Secret | None = None
    max_result_bytes: int = 1024**3


@dataclass(frozen=True)
class JobStatus:
    """Where a job is now; ``details`` keeps what the facility says beyond the phase (exit code, node)."""

    phase: JobPhase
    message: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    """A file a job produced: ``name`` is unique within the job; ``size`` in bytes when known."""

    name: str
    size: int | None = None
    media_type: str = ""


class JobFacility(FacilityType):
    """Capability: the facility runs jobs nobody watches (a Slurm cluster, an IVOA UWS service).

    ESAP keeps the job's record; the facility keeps the job. ``job`` below is the id
    :meth:`submit` returned. Every method raises :class:`FacilityError` with the
    facility's own message when it fails, within ``timeout`` seconds.
    """

    def job_fields(self, facility: Facility, timeout: float) -> tuple[QueryField, ...]:
        """The parameters a job takes here (a UWS service's own); () when the software defines its own.

        ESAP checks ``request.parameters`` against the fields returned and refuses names not
        among them; with (), parameters (a notebook's) pass as given. How a job runs (a time
        limit, a number of cores) is chosen with :meth:`FacilityType.options` instead.
        """
        return ()

    def submit(self, facility: Facility, request: JobRequest, timeout: float) -> str:
        """Submit the job and start it; return the facility's id for it."""
        raise NotImplementedError

    def status(self, facility: Facility, job: str, user: UserContext, timeout: float) -> JobStatus:
        """The job's phase now. A job the facility no longer knows is ``JobPhase.UNKNOWN``."""
        raise NotImplementedError

    def log(self, facility: Facility, job: str, user: UserContext, timeout: float, tail: int = 65536) -> str:
        """The last ``tail`` characters of the job's output, or "" where the facility keeps none."""
        return ""

    def cancel(self, facility: Facility, job: str, user: UserContext, timeout: float) -> None:
        """Abort the job; raise :class:`FacilityError` saying why when it cannot be cancelled."""
        raise NotImplementedError

    def results(self, facility: Facility, job: str, user: UserContext, timeout: float) -> list[JobResult]:
        """The files the finished job produced."""
        raise NotImplementedError

    def open_result(
        self, facility: Facility, job: str, name: str, user: UserContext, timeout: float, max_bytes: int = 1024**3
    ) -> BinaryIO:
        """A readable binary stream of result ``name``; ESAP closes it.

        A result larger than ``max_bytes`` (the request's ``max_result_bytes``) is refused with
        :class:`FacilityError` before any of it is sent, and the stream never gives more.
        """
        raise NotImplementedError

    def delete(self, facility: Facility, job: str, user: UserContext, timeout: float) -> None:
        """Destroy the job at the facility (its record, its results), when ESAP forgets it; one already gone is fine.

        The base class keeps it (facilities that forget jobs by themselves, a batch system).
        """


@dataclass(frozen=True)
class Cluster:
    """A compute cluster started for a session: how to reach it, and its dashboard.

    ``connection`` is what a notebook needs to connect (JSON-safe, no secrets; ``kind``
    names the client that connects: ``dask`` for ``esap_client.dask()``). ``credentials``
    are secrets that live and die with this cluster (a Dask cluster's TLS certificate and
    key). ESAP keeps the name, dashboard and connection on the launch, and puts them with
    the revealed credentials into the session's ``esap_settings.json``, the only place
    the credentials are written.
    """

    name: str
    dashboard: str = ""
    connection: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, Secret] = field(default_factory=dict)


class ClusterFacility(FacilityType):
    """Capability: the facility starts compute clusters beside a notebook session (Dask Gateway).

    A type that is also a :class:`SessionFacility` may launch a cluster on its own; its
    ``launch`` reports ``cluster=<name>`` as ``start_cluster`` does. ESAP stops the
    cluster of a launch, on its own or beside a session, with :meth:`stop_cluster` under
    that name: when the user stops the launch, when the session's launch fails, and when
    the launch ended without it being stopped (a dead worker).
    """

    def start_cluster(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> Cluster:
        """Start a cluster with ``request.options`` for the user, reporting phases; wait until it is usable.

        Call ``report.detail(cluster=<name>)`` as soon as the facility names the cluster,
        so ESAP can stop it even if the launch dies; never ``report.ready`` or
        ``report.failed``. When it cannot, stop what was started and raise
        :class:`FacilityError` with the facility's reason.
        """
        raise NotImplementedError

    def stop_cluster(self, facility: Facility, name: str, user: UserContext) -> None:
        """Shut the cluster down; a cluster already gone is not an error."""
        raise NotImplementedError


# --- storage (a personal workspace) ---------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """A file or folder in a workspace; ``path`` is relative to the user's workspace, with ``/``."""

    path: str
    size: int = 0
    modified: datetime | None = None
    folder: bool = False


@dataclass(frozen=True)
class Usage:
    """Bytes used in the user's workspace, and its quota (``None``: none known)."""

    used: int
    quota: int | None = None


class StorageError(PlainError):
    """The storage's own failure, with a message a researcher can act on."""


class QuotaExceeded(StorageError):
    """A write would pass the user's quota; the message says how much is left."""


class Storage:
    """Where users' workspace files live (WebDAV, a Rucio scope). ESAP keeps no file bytes itself.

    Paths are relative to the user's own workspace; a storage never lets one user reach
    another's files. Every method raises :class:`StorageError` on failure.
    """

    name: str = ""
    title: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name

    def usage(self, user: UserContext, timeout: float) -> Usage:
        raise NotImplementedError

    def list(self, user: UserContext, folder: str, timeout: float) -> list[StoredFile]:
        """What ``folder`` ("" for the top) holds."""
        raise NotImplementedError

    def open(self, user: UserContext, path: str, timeout: float) -> BinaryIO:
        """A readable binary stream of the file; ESAP closes it."""
        raise NotImplementedError

    def write(self, user: UserContext, path: str, stream: BinaryIO, size: int, timeout: float) -> StoredFile:
        """Store ``size`` bytes from ``stream`` at ``path``; raise :class:`QuotaExceeded` past the quota."""
        raise NotImplementedError

    def delete(self, user: UserContext, path: str, timeout: float) -> None:
        raise NotImplementedError

    def fetch_hint(self, user: UserContext, path: str) -> Mapping[str, Any] | None:
        """How a session or job reads the file without ESAP (a DID, say), as a DataItem fetch; None if only via ESAP."""
        return None


# --- publishing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Creator:
    name: str  # "Family, Given"
    affiliation: str = ""
    orcid: str = ""


@dataclass(frozen=True)
class RelatedIdentifier:
    """A link of the publication to something else: ``relation`` as DataCite names it (``isDerivedFrom``...)."""

    identifier: str
    relation: str
    scheme: str = ""  # doi, url, ivoid, ...


@dataclass(frozen=True)
class Upload:
    """A file to publish: ``open()`` gives a fresh readable binary stream of ``size`` bytes."""

    name: str
    size: int
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class Publication:
    """What a researcher publishes: metadata ESAP prefilled and they reviewed, and the files.

    ``provenance`` is the RO-Crate metadata (JSON text) of the launch or job the
    files came from; a publisher includes it with the files. ``new_version_of`` is a
    record this publisher published before, when this is its new version.
    """

    title: str
    description: str
    creators: tuple[Creator, ...]
    files: tuple[Upload, ...]
    keywords: tuple[str, ...] = ()
    licence: str = ""
    upload_type: str = "dataset"
    related: tuple[RelatedIdentifier, ...] = ()
    provenance: str = ""
    new_version_of: str = ""


@dataclass(frozen=True)
class Published:
    record_id: str
    doi: str
    url: str


class PublishError(PlainError):
    """The publisher refused or failed; the message is the repository's own, readable.

    ``retry_after``: seconds after which the repository will take requests again, when it
    answered that too many came (a rate limit); ``None`` otherwise.
    """

    def __init__(self, message: str, retry_after: float | None = None, detail: str = ""):
        super().__init__(message, detail)
        self.retry_after = retry_after


class Publisher:
    """A repository that gives results a DOI (Zenodo, an InvenioRDM instance).

    Users keep their own token for it on their profile (``personal_token_label``).
    """

    name: str = ""
    title: str = ""
    description: str = ""
    personal_token_label: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name

    def publish(self, publication: Publication, token: Secret, timeout: float) -> Published:
        """Create the record, upload the files, set the metadata and publish; raise :class:`PublishError`."""
        raise NotImplementedError


# --- the hooks --------------------------------------------------------------------------------


@hookspec
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    """Register the plugin's archives, each an :class:`Archive` with a unique ``name``.

    Called once per plugin when the app starts; returns nothing. A plugin with
    several configured services (pinned VO services, Rucio instances) registers
    one archive per service.
    """


@hookspec
def register_software_sources(register: Callable[[SoftwareSource], None], settings: Settings) -> None:
    """Register the plugin's software sources, each a :class:`SoftwareSource`.

    Called once per plugin when the app starts; returns nothing. ESAP harvests each
    source into its catalogue with ``esap harvest`` and on schedule.
    """


@hookspec
def register_facility_types(register: Callable[[FacilityType], None], settings: Settings) -> None:
    """Register the plugin's facility types, each a :class:`FacilityType` with a unique ``kind``.

    Called once per plugin when the app starts; returns nothing. Facilities of
    that kind are then registered by admins and users.
    """


@hookspec
def register_storages(register: Callable[[Storage], None], settings: Settings) -> None:
    """Register the plugin's storages, each a :class:`Storage` with a unique ``name``.

    Called once per plugin when the app starts; returns nothing. Users' workspaces
    live in them; ``workspace_storage`` in the configuration picks the default one.
    """


@hookspec
def register_publishers(register: Callable[[Publisher], None], settings: Settings) -> None:
    """Register the plugin's publishers, each a :class:`Publisher` with a unique ``name``.

    Called once per plugin when the app starts; returns nothing.
    """
