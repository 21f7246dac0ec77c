"""A launch's or a job's provenance for others to read: an RO-Crate (Process Run Crate) and W3C PROV-JSON.

Both say the same: the software at its resolved commit or image, each data item with its
identifier, where to get it and its checksums where the archive gave them, the facility,
each phase with its time, who ran it, how it ended, and for a job its parameters and the
files it produced. They are made from the record alone, so a crate made today and one made
next year of the same launch or job agree.

One builder makes both from a :class:`Run`; :func:`of_launch` and :func:`of_job` are the two
adapters from the records.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from esap_core.models import Job, Launch

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
# How each job phase (IVOA UWS) reads as one.
JOB_ACTION_STATUS = {
    "PENDING": ACTION_STATUS["queued"],
    "QUEUED": ACTION_STATUS["queued"],
    "HELD": ACTION_STATUS["queued"],
    "SUSPENDED": ACTION_STATUS["running"],
    "EXECUTING": ACTION_STATUS["running"],
    "COMPLETED": ACTION_STATUS["ready"],
    "ARCHIVED": ACTION_STATUS["ready"],
    "ERROR": ACTION_STATUS["failed"],
    "ABORTED": ACTION_STATUS["failed"],
    "UNKNOWN": ACTION_STATUS["failed"],
}
CHECKSUM_ALGORITHMS = ("adler32", "md5", "sha1", "sha256", "sha512")
# What a job's details hold beside the software's commit and image, written as the run's own facts.
SOFTWARE_DETAILS = ("commit", "image")


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


@dataclass(frozen=True)
class Result:
    """A file the run produced: its name, where ESAP serves it, and what the facility said of it."""

    name: str
    url: str
    size: int | None
    media_type: str


@dataclass(frozen=True)
class Run:
    """What both exports are made from: a launch or a job, read by its adapter.

    ``kind`` is "launch" or "job"; ``url`` its page; ``state`` its own word for where it is
    (``ready``, ``COMPLETED``) and ``action_status`` that as a schema.org ActionStatusType.
    ``inputs`` are the run's own settings beside the data (a job's parameters, command,
    notebook and options) and ``facts`` what the facility said beyond the software (an exit
    code); ``session`` says a launch left a session running (its address is never written).
    """

    kind: str
    id: str
    url: str
    who: str
    software: dict[str, Any]
    facility: dict[str, Any]
    data: list[dict[str, Any]]
    details: dict[str, Any]
    phases: list[dict[str, Any]]
    state: str
    action_status: str
    failed: bool
    message: str
    phase: str  # where it is or ended, in its facility's words
    created: datetime | None
    started: datetime | None
    finished: datetime | None
    inputs: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    results: tuple[Result, ...] = ()
    session: bool = False

    @property
    def title(self) -> str:
        """Capitalised, as a name starts: "Launch", "Job"."""
        return self.kind.capitalize()

    @property
    def by(self) -> str:
        """The local id of the person who ran it."""
        return "launched-by" if self.kind == "launch" else "submitted-by"


def _recorded(record: Launch | Job, url: str, who: str) -> dict[str, Any]:
    """What a launch and a job both record, as :class:`Run` fields."""
    return {
        "id": record.id,
        "url": url,
        "who": who,
        "software": record.software,
        "facility": record.facility,
        "data": record.data,
        "details": record.details,
        "phases": record.phases,
        "message": record.message or "",
        "phase": record.phase,
        "created": record.created,
        "started": record.started or record.created,
        "finished": record.finished,
    }


def of_launch(launch: Launch, launch_url: str, who: str) -> Run:
    return Run(
        kind="launch",
        **_recorded(launch, launch_url, who),
        state=launch.status,
        action_status=ACTION_STATUS.get(launch.status, ACTION_STATUS["queued"]),
        failed=launch.status == "failed",
        session=launch.status == "ready",
    )


def of_job(job: Job, job_url: str, who: str) -> Run:
    """A job, its results served at ``<ESAP>/api/v1/jobs/<id>/results/<name>`` (the root taken from ``job_url``)."""
    root = job_url.rsplit("/jobs/", 1)[0]
    options = {f"option:{key}": value for key, value in job.options.items() if key != "rosetta_token"}
    inputs = {
        **{f"parameter:{name}": value for name, value in job.parameters.items()},
        **({"command": job.command} if job.command else {}),
        **({"notebook": job.notebook} if job.notebook else {}),
        **options,
    }
    results = tuple(
        Result(
            name=str(result["name"]),
            url=f"{root}/api/v1/jobs/{job.id}/results/{quote(str(result['name']))}",
            size=result.get("size") if isinstance(result.get("size"), int) else None,
            media_type=str(result.get("media_type") or ""),
        )
        for result in job.results
    )
    return Run(
        kind="job",
        **_recorded(job, job_url, who),
        state=job.phase,
        action_status=JOB_ACTION_STATUS.get(job.phase, ACTION_STATUS["queued"]),
        failed=job.phase in ("ERROR", "ABORTED", "UNKNOWN"),
        inputs=inputs,
        facts={
            key: value
            for key, value in job.details.items()
            if key not in SOFTWARE_DETAILS and isinstance(value, str | int | float | bool)
        },
        results=results,
    )


def _run(record: Launch | Job | Run, url: str, who: str) -> Run:
    if isinstance(record, Run):
        return record
    return of_job(record, url, who) if isinstance(record, Job) else of_launch(record, url, who)


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


def items(run: Run | Launch | Job) -> list[Item]:
    made = []
    for item in run.data:
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


def phases(run: Run | Launch | Job) -> list[Phase]:
    recorded = [phase for phase in run.phases if phase.get("at")]
    return [
        Phase(
            name=str(phase.get("phase", "")),
            started=str(phase["at"]),
            ended=str(recorded[index + 1]["at"]) if index + 1 < len(recorded) else "",
            message=str(phase.get("message", "")),
        )
        for index, phase in enumerate(recorded)
    ]


def software_url(run: Run | Launch | Job) -> str:
    """The software as an address: its repository at the resolved commit where known, else its DOI or record."""
    software, details = run.software, run.details
    repository = software.get("repository_url") or ""
    commit = details.get("commit") or ""
    if repository.startswith(("http://", "https://")):
        return f"{repository.removesuffix('.git')}/tree/{commit}" if commit else repository
    doi = software.get("doi") or ""
    if doi:
        return doi if doi.startswith("https://") else f"https://doi.org/{doi}"
    return f"#software-{software.get('id') or software.get('external_id') or 'unknown'}"


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


# --- RO-Crate ----------------------------------------------------------------------------------


def crate_metadata(record: Launch | Job | Run, url: str, who: str) -> dict[str, Any]:
    """``ro-crate-metadata.json`` of the launch or job at ``url``, made with the ``rocrate`` package."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.softwareapplication import SoftwareApplication
    from rocrate.rocrate import ROCrate

    run = _run(record, url, who)
    software, details, facility = run.software, run.details, run.facility
    crate = ROCrate()
    name, where = software.get("name", "software"), facility.get("title") or facility.get("name", "")
    crate.name = f"ESAP {run.kind} {run.id}: {name} on {where}"
    crate.description = (
        f"The record of an ESAP {run.kind}: {software.get('name', 'software')} with {len(run.data)} data "
        f"item{'s' if len(run.data) != 1 else ''} on the facility {facility.get('name', '')}, {run.state}."
        + (f" It produced {len(run.results)} file{'s' if len(run.results) != 1 else ''}." if run.results else "")
    )
    crate.datePublished = run.finished or run.created
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
        ContextEntity(crate, "#esap", properties={"@type": "Organization", "name": "ESAP", "url": run.url})
    )

    program = SoftwareApplication(
        crate,
        software_url(run),
        properties={
            "name": software.get("name", ""),
            "url": software.get("repository_url") or software_url(run),
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
    for index, item in enumerate(items(run), 1):
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
        if item.url:  # a web-based data entity, as ESAP found it when the run took it along
            properties["sdDatePublished"] = _iso(run.created)
            objects.append(crate.add_file(item.url, properties=properties))
        else:
            objects.append(
                crate.add(ContextEntity(crate, f"#item-{index}", properties={"@type": "CreativeWork", **properties}))
            )
    # A job's own settings, values the action used beside the data (as a Workflow Run Crate writes parameters).
    objects += [
        _property(crate, f"#input-{index}", name, _text(value))
        for index, (name, value) in enumerate(run.inputs.items(), 1)
    ]
    results = [
        crate.add_file(
            result.url,
            properties={
                "name": result.name,
                "description": f"Made by ESAP {run.kind} {run.id}; served to its owner by ESAP's API.",
                "sdDatePublished": _iso(run.finished or run.created),
                **({"contentSize": str(result.size)} if result.size is not None else {}),
                **({"encodingFormat": result.media_type} if result.media_type else {}),
            },
        )
        for result in run.results
    ]
    facts = [
        _property(crate, f"#fact-{index}", name, _text(value))
        for index, (name, value) in enumerate(run.facts.items(), 1)
    ]

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
    person = crate.add(ContextEntity(crate, f"#{run.by}", properties={"@type": "Person", "name": run.who}))
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
        for index, phase in enumerate(phases(run), 1)
    ]
    status = crate.add(
        ContextEntity(
            crate,
            run.action_status,
            properties={"@type": "ActionStatusType", "name": run.action_status.rpartition("/")[2]},
        )
    )
    properties: dict[str, Any] = {
        "name": f"{run.title} of {software.get('name', 'software')} on {facility.get('name', '')}",
        "description": f"ESAP {run.kind} {run.id}, {run.state}: {run.message or run.phase}",
        "actionStatus": {"@id": status.id},
        "agent": {"@id": person.id},
        "location": {"@id": place.id},
        "startTime": _iso(run.started),
        **({"endTime": _iso(run.finished)} if run.finished else {}),
        **({"error": run.message} if run.failed and run.message else {}),
        **({"additionalProperty": [{"@id": fact.id} for fact in facts]} if facts else {}),
        "url": run.url,
    }
    action = crate.add_action(program, identifier=run.url, object=objects, result=results, properties=properties)
    crate.root_dataset["mentions"] = [{"@id": action.id}, *({"@id": step.id} for step in steps)]
    return _single_values(crate.metadata.generate())


def _text(value: Any) -> str:
    """A setting's value as text (true/false as JSON writes them)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


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


def crate_zip(record: Launch | Job | Run, url: str, who: str) -> bytes:
    """The crate as a ZIP holding ``ro-crate-metadata.json`` (the data stay where they are: web entities)."""
    metadata = crate_metadata(record, url, who)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("ro-crate-metadata.json", json.dumps(metadata, indent=2, ensure_ascii=False))
    return buffer.getvalue()


# --- W3C PROV ----------------------------------------------------------------------------------


def prov_document(record: Launch | Job | Run, url: str, who: str):
    """The launch or job as a ``prov.model.ProvDocument``: an activity that used the software and the data.

    Identifiers are relative to its page (the default namespace); ESAP's own terms
    (``esap:Launch``, ``esap:Job``, ``esap:commit``...) are in the namespace ``<ESAP>/ns/provenance#``.
    A job's settings are entities ``input/<n>`` it used, its results entities ``result/<n>`` it generated.
    """
    from prov.model import PROV, ProvDocument

    run = _run(record, url, who)
    software, details, facility = run.software, run.details, run.facility
    document = ProvDocument()
    document.set_default_namespace(run.url.rstrip("/") + "/")
    plural = "launches" if run.kind == "launch" else "jobs"
    esap = document.add_namespace("esap", run.url.rsplit(f"/{plural}/", 1)[0] + "/ns/provenance#")
    schema = document.add_namespace("schema", "https://schema.org/")

    activity = document.activity(
        run.kind,
        run.started,
        run.finished,
        {
            PROV["type"]: esap[run.title],
            PROV["label"]: f"{run.title} of {software.get('name', 'software')} on {facility.get('name', '')}",
            esap["status"]: run.state,
            esap["message"]: run.message,
            PROV["location"]: run.url,
            **{esap[_local(key)]: value for key, value in run.facts.items()},
        },
    )
    program = document.entity(
        "software",
        {
            PROV["type"]: schema["SoftwareApplication"],
            PROV["label"]: software.get("name", ""),
            PROV["location"]: software_url(run),
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
    for index, item in enumerate(items(run), 1):
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
    for index, (name, value) in enumerate(run.inputs.items(), 1):
        setting = document.entity(
            f"input/{index}", {PROV["type"]: esap["Setting"], PROV["label"]: name, PROV["value"]: _text(value)}
        )
        document.used(activity, setting, other_attributes={PROV["role"]: esap["input"]})
    place = document.agent(
        "facility",
        {
            PROV["type"]: PROV["SoftwareAgent"],
            PROV["label"]: facility.get("title") or facility.get("name", ""),
            esap["kind"]: facility.get("kind", ""),
            PROV["location"]: facility.get("url", ""),
        },
    )
    person = document.agent(run.by, {PROV["type"]: PROV["Person"], PROV["label"]: run.who})
    document.wasAssociatedWith(activity, place, other_attributes={PROV["role"]: esap["facility"]})
    document.wasAssociatedWith(activity, person, other_attributes={PROV["role"]: esap["researcher"]})
    for index, phase in enumerate(phases(run), 1):
        step = document.activity(
            f"phase/{index}",
            datetime.fromisoformat(phase.started),
            datetime.fromisoformat(phase.ended) if phase.ended else None,
            {PROV["type"]: esap["Phase"], PROV["label"]: phase.name, esap["message"]: phase.message},
        )
        document.wasInformedBy(activity, step)
    if run.session:  # the session itself; its address carries a token, so it is not written
        session = document.entity("session", {PROV["type"]: esap["Session"], PROV["label"]: "the analysis session"})
        document.wasGeneratedBy(session, activity, run.finished)
    for index, result in enumerate(run.results, 1):
        attributes = {
            PROV["type"]: esap["Result"],
            PROV["label"]: result.name,
            PROV["location"]: result.url,
            **({esap["size"]: result.size} if result.size is not None else {}),
            **({esap["media_type"]: result.media_type} if result.media_type else {}),
        }
        document.wasGeneratedBy(document.entity(f"result/{index}", attributes), activity, run.finished)
    return document


def _local(key: str) -> str:
    """A facility's detail name as a QName's local part."""
    return "".join(character if character.isalnum() or character in "_-" else "_" for character in key) or "detail"


def prov_json(record: Launch | Job | Run, url: str, who: str) -> str:
    return prov_document(record, url, who).serialize(format="json", indent=2)
