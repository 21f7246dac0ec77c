"""The plugin contract: the hooks ESAP calls and the types a plugin hands back.

Every hook is register-style: ESAP calls it once per plugin, at start-up, with
``register`` (a callable taking one object) and ``settings`` (the plugin's own
section of the configuration). The plugin creates its objects and registers them;
ESAP validates them, rejects duplicate names with a message that names both
plugins, and owns the order (built-in plugins first, then the others by name).

An implementation may take fewer arguments than the spec (``register`` alone is
fine). Objects registered here are long-lived and shared between requests and
threads: keep per-call state in the arguments, not on ``self``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pluggy

hookspec = pluggy.HookspecMarker("esap")
hookimpl = pluggy.HookimplMarker("esap")


# --- context a plugin is handed at call time -------------------------------------


class Settings(Mapping[str, Any]):
    """A plugin's own configuration section (read-only).

    Values are plain TOML values, except secrets, which arrive as
    :class:`Secret` objects: call ``reveal()`` at the moment of use.
    """

    def __init__(self, plugin: str, values: Mapping[str, Any]):
        self.plugin = plugin
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({self.plugin!r}, {sorted(self._values)!r})"


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


# --- archives (data) --------------------------------------------------------------


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    INTEGER = "integer"
    CHOICE = "choice"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class QueryField:
    """One input of an archive's query form; drives the HTML form and the API schema."""

    name: str
    label: str
    type: FieldType = FieldType.TEXT
    required: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


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
    size, format).
    """

    identifier: str
    title: str
    fetch: Mapping[str, Any]
    payload: Mapping[str, Any] = field(default_factory=dict)


class ArchiveError(Exception):
    """An archive's own failure, with a message a researcher can act on."""


@dataclass(frozen=True)
class StagingResult:
    """How far an archive got in making items available at a storage element before a launch.

    ``state`` is ``ready`` (all in place), ``pending`` (asked for, not there yet) or ``failed``;
    ``paths`` maps an item's identifier to where a session finds it on that storage.
    """

    state: str
    message: str = ""
    paths: Mapping[str, str] = field(default_factory=dict)


class Archive:
    """A source of data: a VO service, a Rucio instance, an institute's archive.

    Subclass it and set ``name`` (unique, URL-safe), ``title``, ``description``,
    ``fields`` and ``answers``; implement ``search`` and ``basket_item``.
    """

    name: str = ""
    title: str = ""
    description: str = ""
    fields: tuple[QueryField, ...] = ()
    answers: frozenset[QueryKind] = frozenset()

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        """Answer ``query`` (values already checked against ``fields``) within ``timeout`` seconds.

        Raise :class:`ArchiveError` with a readable message on an upstream failure.
        """
        raise NotImplementedError

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        """Turn one row of a :class:`ResultPage` into a basket item."""
        raise NotImplementedError

    def stage(self, items: Sequence[DataItem], storage: str, user: UserContext, timeout: float) -> StagingResult:
        """Optional: make ``items`` available at ``storage`` (a facility's Rucio RSE) before a launch.

        Called only for archives that override it, within ``timeout`` seconds (wait that
        long at most, then answer ``pending``); raise :class:`ArchiveError` when refused.
        """
        raise NotImplementedError


# --- software sources ---------------------------------------------------------------


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


class HarvestError(Exception):
    """The harvest as a whole failed (the catalogue answered an error page, say); the message says why."""


class SoftwareSource:
    """A catalogue of software: the OSSR community, a list of git repositories.

    Set ``name`` and ``title``; implement ``harvest``.
    """

    name: str = ""
    title: str = ""
    description: str = ""

    def harvest(self, since: datetime | None) -> Iterable[SoftwareRecord | HarvestProblem]:
        """Yield the source's records, and a :class:`HarvestProblem` for each record that failed.

        ``since`` is the start of the last successful harvest, if any: a source that can
        tell what changed may yield only those records (ESAP skips unchanged records
        either way, and treats a record missing from an incremental harvest as kept).
        One record's failure must not stop the harvest; raise :class:`HarvestError`
        when the whole harvest cannot go on.
        """
        raise NotImplementedError


# --- facility types (compute) ---------------------------------------------------------


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
class Facility:
    """A registered compute facility as a facility type sees it."""

    name: str
    kind: str
    url: str
    settings: Settings
    title: str = ""


@dataclass(frozen=True)
class CheckResult:
    up: bool
    message: str = ""
    version: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchRequest:
    """What to launch: the software, the data items and the user's choices.

    ``staging_notebook()`` returns the notebook (as JSON text) and the settings file
    that fetch the data items in the session; facility types put them there.
    ``personal_token`` is the token the user keeps on their profile for this facility,
    for types that declare ``personal_token_label``.
    """

    launch_id: str
    software: SoftwareRecord
    data: tuple[DataItem, ...]
    user: UserContext
    options: Mapping[str, Any] = field(default_factory=dict)
    staging_notebook: Callable[[], Mapping[str, str]] = lambda: {}
    personal_token: Secret | None = None


class LaunchReport(Protocol):
    """How a launch tells ESAP what is happening; every call is shown live."""

    def phase(self, phase: Phase, message: str = "", progress: float | None = None) -> None:
        """Enter or update ``phase``; ``progress`` is the percentage done of that phase (0 to 100)."""

    def log(self, line: str) -> None: ...

    def detail(self, **facts: Any) -> None:
        """Record provenance the facility learnt (``commit=``, ``image=``)."""

    def ready(self, url: str, message: str = "") -> None: ...

    def failed(self, message: str) -> None: ...


class FacilityError(Exception):
    """A facility's own failure; the message is shown on the launch page."""


class FacilityType:
    """A kind of compute facility: BinderHub, JupyterHub, Rosetta.

    Set ``kind`` (unique), ``title`` and ``accepts`` (the UI types it runs);
    implement ``check`` and ``launch``, and ``stop`` if the facility can.
    """

    kind: str = ""
    title: str = ""
    description: str = ""
    accepts: frozenset[UIType] = frozenset()
    personal_token_label: str = ""  # set it when users may keep a token of their own for these facilities

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        """Say whether ``facility`` answers, with its version and metadata."""
        raise NotImplementedError

    def options(self, facility: Facility) -> tuple[QueryField, ...]:
        """The choices a user makes at checkout (a profile, a server size); they arrive in ``request.options``."""
        return ()

    def launch(self, facility: Facility, request: LaunchRequest, report: LaunchReport) -> None:
        """Start the software at ``facility``; runs in a worker.

        Report phases in order and end with ``report.ready(url)``; raise
        :class:`FacilityError` (or call ``report.failed``) when it cannot.
        """
        raise NotImplementedError

    def stop(self, facility: Facility, launch_id: str, user: UserContext) -> None:
        """Stop what ``launch`` started. Types that cannot stop leave this as it is."""
        raise NotImplementedError


# --- the hooks ----------------------------------------------------------------------


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
