"""The IVOA registry as an archive: find VO services by keywords, service type and waveband (RegTAP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from esap_core import (
    MAX_IDENTIFIER,
    ArchiveError,
    Column,
    DataItem,
    FieldType,
    QueryField,
    QueryKind,
    ResultPage,
    UserContext,
    item_identifier,
)
from esap_vo import adql, tap
from esap_vo.services import ServiceQueries

# RegTAP keeps standard identifiers lower-cased; SIA version 2 has a versioned fragment.
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "tap": ("ivo://ivoa.net/std/tap",),
    "scs": ("ivo://ivoa.net/std/conesearch",),
    "sia": ("ivo://ivoa.net/std/sia", "ivo://ivoa.net/std/sia#query-2.%"),
    "ssa": ("ivo://ivoa.net/std/ssa",),
}
ALIASES = {"conesearch": "scs", "cone": "scs", "image": "sia", "spectrum": "ssa", "table": "tap"}
# The IVOA messenger vocabulary, as RegTAP stores it (lower case) in rr.resource.waveband.
WAVEBANDS = ("radio", "millimeter", "infrared", "optical", "uv", "euv", "x-ray", "gamma-ray")
ANY = "any"
MAX_WORDS = 8
PAGE_SIZE = 50


def service_type_condition(service_type: str) -> str:
    """ADQL restricting cap.standard_id to ``service_type`` (or to any of the four)."""
    kinds = SERVICE_TYPES if service_type == ANY else {service_type: SERVICE_TYPES[service_type]}
    ids = [stdid for kind in kinds.values() for stdid in kind]
    return (
        "("
        + " OR ".join(
            f"cap.standard_id LIKE {adql.string(stdid)}" if "%" in stdid else f"cap.standard_id = {adql.string(stdid)}"
            for stdid in ids
        )
        + ")"
    )


def keyword_condition(word: str) -> str:
    """ADQL: ``word`` is in the title or description, or part of a subject."""
    literal = adql.string(word)
    pattern = adql.string(f"%{word}%")
    return (
        f"(1 = ivo_hasword(res.res_title, {literal}) OR 1 = ivo_hasword(res.res_description, {literal})"
        f" OR res.ivoid IN (SELECT subj.ivoid FROM rr.res_subject AS subj"
        f" WHERE subj.res_subject ILIKE {pattern}))"
    )


def registry_query(keywords: str, service_type: str = ANY, waveband: str = ANY, limit: int = 100) -> str:
    """The RegTAP ADQL for a search; ValueError for an unknown service type or waveband."""
    service_type = ALIASES.get(service_type.lower(), service_type.lower())
    if service_type != ANY and service_type not in SERVICE_TYPES:
        raise ValueError(f"unknown service type {service_type!r}: use one of {', '.join(SERVICE_TYPES)}")
    words = keywords.split()
    if not words:
        raise ValueError("give at least one keyword")
    if len(words) > MAX_WORDS:
        raise ValueError(f"give at most {MAX_WORDS} keywords")
    conditions = ["intf.intf_role = 'std'", service_type_condition(service_type)]
    conditions += [keyword_condition(word) for word in words]
    if waveband != ANY:
        if waveband.lower() not in WAVEBANDS:
            raise ValueError(f"unknown waveband {waveband!r}: use one of {', '.join(WAVEBANDS)}")
        conditions.append(f"1 = ivo_hashlist_has(res.waveband, {adql.string(waveband.lower())})")
    return (
        f"SELECT TOP {int(limit)} res.res_title AS title, res.short_name, pub.role_name AS publisher,"
        " res.res_description AS description, cap.standard_id, intf.access_url, res.waveband, res.ivoid"
        " FROM rr.resource AS res"
        " JOIN rr.capability AS cap ON cap.ivoid = res.ivoid"
        " JOIN rr.interface AS intf ON intf.ivoid = cap.ivoid AND intf.cap_index = cap.cap_index"
        " LEFT OUTER JOIN rr.res_role AS pub ON pub.ivoid = res.ivoid AND pub.base_role = 'publisher'"
        " WHERE " + " AND ".join(conditions) + " ORDER BY title, ivoid"
    )


def service_type_of(standard_id: str) -> str:
    """The short service type (tap, scs, sia, ssa) of a standard identifier."""
    for kind, ids in SERVICE_TYPES.items():
        if any(standard_id == stdid or (stdid.endswith("%") and standard_id.startswith(stdid[:-1])) for stdid in ids):
            return kind
    return standard_id


class RegistryArchive(ServiceQueries):
    """Keyword search over a RegTAP registry for TAP, cone search, SIA and SSA services.

    The TAP and cone search services it finds can be queried through it (see :mod:`esap_vo.services`).
    """

    name = "vo-registry"
    title = "IVOA registry"
    description = "Find Virtual Observatory services (TAP, cone search, images, spectra) by keyword."
    fields = (
        QueryField("keywords", "Keywords", required=True, help="Words in the title, description or subjects"),
        QueryField(
            "service_type",
            "Service type",
            FieldType.CHOICE,
            default=ANY,
            choices=(ANY, *SERVICE_TYPES),
            help="tap: tables (ADQL), scs: cone search, sia: images, ssa: spectra",
        ),
        QueryField("waveband", "Waveband", FieldType.CHOICE, default=ANY, choices=(ANY, *WAVEBANDS)),
    )
    answers = frozenset({QueryKind.KEYWORDS})

    def __init__(self, registry_tap_url: str, private_services: bool | None = None):
        self.registry_tap_url = registry_tap_url
        self.private_services = private_services

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        try:
            statement = registry_query(
                str(query.get("keywords") or ""),
                str(query.get("service_type") or ANY),
                str(query.get("waveband") or ANY),
                limit=page * PAGE_SIZE + 1,
            )
        except ValueError as error:
            raise ArchiveError(str(error)) from None
        found = tap.query_page(self.registry_tap_url, statement, page, PAGE_SIZE, timeout)
        rows = [{**row, "service_type": service_type_of(row.get("standard_id") or "")} for row in found.rows]
        columns = [*found.columns, Column("service_type", description="tap, scs, sia or ssa")]
        return ResultPage(columns, rows, found.page, found.page_size, found.total, found.notes)

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        access_url = str(row.get("access_url") or "")
        if not access_url.startswith(("http://", "https://")):
            raise ArchiveError("this registry record has no usable access URL")
        return DataItem(
            identifier=item_identifier(f"{row.get('ivoid')}#{row.get('service_type') or row.get('standard_id')}"),
            title=str(row.get("title") or row.get("ivoid"))[:MAX_IDENTIFIER],
            fetch={"method": "http", "url": access_url},
            payload={"row": dict(row), "kind": "vo-service"},
        )
