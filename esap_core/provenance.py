"""A launch's provenance for others to read: an RO-Crate (Process Run Crate) and W3C PROV-JSON.

Both say the same: the software at its resolved commit or image, each data item with its
identifier, where to get it and its checksums where the archive gave them, the facility,
each phase with its time, who launched it, and how it ended. They are made from the launch
record alone, so a crate made today and one made next year of the same launch agree.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from esap_core.models import Launch

# The record is metadata about a launch, free for anyone to reuse; the data and software keep their own licences.
METADATA_LICENSE = "https://creativecommons.org/publicdomain/zero/1.0/"
# How each launch status reads as a schema.org ActionStatusType.
ACTION_STATUS = {
    "queued": "http://schema.org/PotentialActionStatus",
    "running": "http://schema.org/ActiveActionStatus",
    "ready": "http://schema.org/CompletedActionStatus",
    "stopped": "http://schema.org/CompletedActionStatus",
    "failed": "http://schema.org/FailedActionStatus",
}
CHECKSUM_ALGORITHMS = ("adler32", "md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True)
class Phase:
    name: str
    started: str
    ended: str  # the next phase's start; "" for the last one
    message: str


@dataclass(frozen=True)
class Item:
    identifier: str
    title: str
    archive: str
    url: str  # where to get it over http(s), if it says
    method: str
    checksums: dict[str, str]
    size: int | None
    format: str


def checksums(payload: dict[str, Any]) -> dict[str, str]:
    """The checksums an item's payload records: ``checksums: {adler32: ...}`` (Rucio), or ``checksum: 'md5:...'``."""
    found = {
        algorithm: str(value)
        for algorithm, value in (payload.get("checksums") or {}).items()
        if algorithm in CHECKSUM_ALGORITHMS and value
    }
    single = payload.get("checksum")
    if isinstance(single, str) and ":" in single:
        algorithm, _, value = single.partition(":")
        if algorithm.lower() in CHECKSUM_ALGORITHMS and value:
            found.setdefault(algorithm.lower(), value)
    return found


def items(launch: Launch) -> list[Item]:
    made = []
    for item in launch.data:
        fetch, payload = item.get("fetch") or {}, item.get("payload") or {}
        url = str(fetch.get("url") or "")
        size = payload.get("size", payload.get("bytes"))
        made.append(
            Item(
                identifier=str(item["identifier"]),
                title=str(item.get("title") or item["identifier"]),
                archive=str(item.get("archive") or ""),
                url=url if url.startswith(("http://", "https://")) else "",
                method=str(fetch.get("method") or ""),
                checksums=checksums(payload),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                format=str(payload.get("format") or payload.get("content_type") or ""),
            )
        )
    return made


def phases(launch: Launch) -> list[Phase]:
    recorded = [phase for phase in launch.phases if phase.get("at")]
    return [
        Phase(
            name=str(phase.get("phase", "")),
            started=str(phase["at"]),
            ended=str(recorded[index + 1]["at"]) if index + 1 < len(recorded) else "",
            message=str(phase.get("message", "")),
        )
        for index, phase in enumerate(recorded)
    ]


def software_url(launch: Launch) -> str:
    """The software as an address: its repository at the resolved commit where known, else its DOI or record."""
    software, details = launch.software, launch.details
    repository = software.get("repository_url") or ""
    commit = details.get("commit") or ""
    if repository.startswith(("http://", "https://")):
        return f"{repository.removesuffix('.git')}/tree/{commit}" if commit else repository
    doi = software.get("doi") or ""
    if doi:
        return doi if doi.startswith("https://") else f"https://doi.org/{doi}"
    return f"#software-{software.get('id', 'unknown')}"


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


# --- RO-Crate ----------------------------------------------------------------------------------


def crate_metadata(launch: Launch, launch_url: str, who: str) -> dict[str, Any]:
    """``ro-crate-metadata.json`` of the launch, made with the ``rocrate`` package."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.softwareapplication import SoftwareApplication
    from rocrate.rocrate import ROCrate

    software, details, facility = launch.software, launch.details, launch.facility
    crate = ROCrate()
    name, where = software.get("name", "software"), facility.get("title") or facility.get("name", "")
    crate.name = f"ESAP launch {launch.id}: {name} on {where}"
    crate.description = (
        f"The record of an ESAP launch: {software.get('name', 'software')} with {len(launch.data)} data "
        f"item{'s' if len(launch.data) != 1 else ''} on the facility {facility.get('name', '')}, {launch.status}."
    )
    crate.datePublished = launch.finished or launch.created
    crate.license = crate.add(
        ContextEntity(
            crate,
            METADATA_LICENSE,
            properties={
                "@type": "CreativeWork",
                "name": "CC0 1.0",
                "description": "This record (not the data or software it names) is in the public domain.",
            },
        )
    )
    crate.publisher = crate.add(
        ContextEntity(crate, "#esap", properties={"@type": "Organization", "name": "ESAP", "url": launch_url})
    )

    program = SoftwareApplication(
        crate,
        software_url(launch),
        properties={
            "name": software.get("name", ""),
            "url": software.get("repository_url") or software_url(launch),
            **(
                {"version": details.get("commit") or software["ref"]}
                if software.get("ref") or details.get("commit")
                else {}
            ),
            **({"identifier": software["doi"]} if software.get("doi") else {}),
            **({"image": details["image"]} if details.get("image") else {}),
            **({"codeRepository": software["repository_url"]} if software.get("repository_url") else {}),
        },
    )
    crate.add(program)

    objects = []
    for index, item in enumerate(items(launch), 1):
        ids = [_property(crate, f"#item-{index}-identifier", "identifier", item.identifier)]
        ids += [
            _property(crate, f"#item-{index}-{algorithm}", algorithm, value)
            for algorithm, value in item.checksums.items()
        ]
        properties = {
            "name": item.title,
            "identifier": [{"@id": entity.id} for entity in ids],
            "description": f"From {item.archive}, fetched by {item.method or 'hand'}.",
            **({"contentSize": str(item.size)} if item.size is not None else {}),
            **({"encodingFormat": item.format} if item.format else {}),
        }
        if item.url:  # a web-based data entity, as ESAP found it when the launch took it along
            properties["sdDatePublished"] = _iso(launch.created)
            objects.append(crate.add_file(item.url, properties=properties))
        else:
            objects.append(
                crate.add(ContextEntity(crate, f"#item-{index}", properties={"@type": "CreativeWork", **properties}))
            )

    place = crate.add(
        ContextEntity(
            crate,
            facility.get("url") or f"#facility-{facility.get('name', '')}",
            properties={
                "@type": "Service",
                "name": facility.get("title") or facility.get("name", ""),
                "serviceType": facility.get("kind", ""),
            },
        )
    )
    person = crate.add(ContextEntity(crate, "#launched-by", properties={"@type": "Person", "name": who}))
    steps = [
        crate.add(
            ContextEntity(
                crate,
                f"#phase-{index}-{phase.name}",
                properties={
                    "@type": "Action",
                    "name": phase.name,
                    "description": phase.message,
                    "startTime": phase.started,
                    **({"endTime": phase.ended} if phase.ended else {}),
                },
            )
        )
        for index, phase in enumerate(phases(launch), 1)
    ]
    status_url = ACTION_STATUS.get(launch.status, ACTION_STATUS["queued"])
    status = crate.add(
        ContextEntity(
            crate, status_url, properties={"@type": "ActionStatusType", "name": status_url.rpartition("/")[2]}
        )
    )
    properties: dict[str, Any] = {
        "name": f"Launch of {software.get('name', 'software')} on {facility.get('name', '')}",
        "description": f"ESAP launch {launch.id}, {launch.status}: {launch.message or launch.phase}",
        "actionStatus": {"@id": status.id},
        "agent": {"@id": person.id},
        "location": {"@id": place.id},
        "startTime": _iso(launch.started or launch.created),
        **({"endTime": _iso(launch.finished)} if launch.finished else {}),
        **({"error": launch.message} if launch.status == "failed" and launch.message else {}),
        "url": launch_url,
    }
    action = crate.add_action(program, identifier=launch_url, object=objects, properties=properties)
    crate.root_dataset["mentions"] = [{"@id": action.id}, *({"@id": step.id} for step in steps)]
    return _single_values(crate.metadata.generate())


def _single_values(metadata: dict[str, Any]) -> dict[str, Any]:
    """One-element lists as their element: the same JSON-LD, in the form RO-Crate recommends (1.1, 4.2)."""
    for entity in metadata["@graph"]:
        for key, value in entity.items():
            if isinstance(value, list) and len(value) == 1:
                entity[key] = value[0]
    return metadata


def _property(crate, identifier: str, name: str, value: str):
    from rocrate.model.contextentity import ContextEntity

    properties = {"@type": "PropertyValue", "name": name, "propertyID": name, "value": value}
    return crate.add(ContextEntity(crate, identifier, properties=properties))


def crate_zip(launch: Launch, launch_url: str, who: str) -> bytes:
    """The crate as a ZIP holding ``ro-crate-metadata.json`` (the data stay where they are: web entities)."""
    metadata = crate_metadata(launch, launch_url, who)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("ro-crate-metadata.json", json.dumps(metadata, indent=2, ensure_ascii=False))
    return buffer.getvalue()


# --- W3C PROV ----------------------------------------------------------------------------------


def prov_document(launch: Launch, launch_url: str, who: str):
    """The launch as a ``prov.model.ProvDocument``: an activity that used the software and the data.

    Identifiers are relative to the launch's page (the default namespace); ESAP's own terms
    (``esap:Launch``, ``esap:commit``...) are in the namespace ``<ESAP>/ns/provenance#``.
    """
    from prov.model import PROV, ProvDocument

    software, details, facility = launch.software, launch.details, launch.facility
    document = ProvDocument()
    document.set_default_namespace(launch_url.rstrip("/") + "/")
    esap = document.add_namespace("esap", launch_url.split("/launches/")[0] + "/ns/provenance#")
    schema = document.add_namespace("schema", "https://schema.org/")

    activity = document.activity(
        "launch",
        launch.started or launch.created,
        launch.finished,
        {
            PROV["type"]: esap["Launch"],
            PROV["label"]: f"Launch of {software.get('name', 'software')} on {facility.get('name', '')}",
            esap["status"]: launch.status,
            esap["message"]: launch.message or "",
            PROV["location"]: launch_url,
        },
    )
    program = document.entity(
        "software",
        {
            PROV["type"]: schema["SoftwareApplication"],
            PROV["label"]: software.get("name", ""),
            PROV["location"]: software_url(launch),
            **{
                esap[key]: value
                for key, value in (
                    ("repository", software.get("repository_url")),
                    ("ref", software.get("ref")),
                    ("commit", details.get("commit")),
                    ("image", details.get("image")),
                    ("doi", software.get("doi")),
                )
                if value
            },
        },
    )
    document.used(activity, program, other_attributes={PROV["role"]: esap["software"]})
    for index, item in enumerate(items(launch), 1):
        attributes: dict[Any, Any] = {
            PROV["type"]: esap["DataItem"],
            PROV["label"]: item.title,
            esap["identifier"]: item.identifier,
            esap["archive"]: item.archive,
            esap["fetch"]: item.method or "none",
        }
        if item.url:
            attributes[PROV["location"]] = item.url
        attributes.update({esap[algorithm]: value for algorithm, value in item.checksums.items()})
        entity = document.entity(f"data/{index}", attributes)
        document.used(activity, entity, other_attributes={PROV["role"]: esap["data"]})
    place = document.agent(
        "facility",
        {
            PROV["type"]: PROV["SoftwareAgent"],
            PROV["label"]: facility.get("title") or facility.get("name", ""),
            esap["kind"]: facility.get("kind", ""),
            PROV["location"]: facility.get("url", ""),
        },
    )
    person = document.agent("launched-by", {PROV["type"]: PROV["Person"], PROV["label"]: who})
    document.wasAssociatedWith(activity, place, other_attributes={PROV["role"]: esap["facility"]})
    document.wasAssociatedWith(activity, person, other_attributes={PROV["role"]: esap["researcher"]})
    for index, phase in enumerate(phases(launch), 1):
        step = document.activity(
            f"phase/{index}",
            datetime.fromisoformat(phase.started),
            datetime.fromisoformat(phase.ended) if phase.ended else None,
            {PROV["type"]: esap["Phase"], PROV["label"]: phase.name, esap["message"]: phase.message},
        )
        document.wasInformedBy(activity, step)
    if launch.status == "ready":  # the session itself; its address carries a token, so it is not written
        session = document.entity("session", {PROV["type"]: esap["Session"], PROV["label"]: "the analysis session"})
        document.wasGeneratedBy(session, activity, launch.finished)
    return document


def prov_json(launch: Launch, launch_url: str, who: str) -> str:
    return prov_document(launch, launch_url, who).serialize(format="json", indent=2)
