"""A service's description of its own parameters (a VOTable of PARAMs) as ESAP's query fields.

Two shapes are read: the PARAMs of a DataLink service descriptor (``<GROUP name="inputParams">``,
DataLink 1.0 section 4) and the ``INPUT:<name>`` PARAMs of the metadata a DALI service
answers to ``MAXREC=0`` (what GAVO DaCHS sends). VALUES give choices and bounds, ``value``
the default, DESCRIPTION the help.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from esap_core import FieldType, QueryField
from esap_uws.documents import DocumentError, xml_root

NUMBER_TYPES = {"short": FieldType.INTEGER, "int": FieldType.INTEGER, "long": FieldType.INTEGER}
NUMBER_TYPES |= {"unsignedByte": FieldType.INTEGER, "float": FieldType.NUMBER, "double": FieldType.NUMBER}


def parameter_fields(raw: bytes) -> tuple[QueryField, ...]:
    """The fields the description declares, in its order; DocumentError when it is not a VOTable."""
    root = xml_root(raw)
    if _local(root.tag) != "VOTABLE":
        raise DocumentError(f"a <{_local(root.tag)}> document, not a VOTable describing the service's parameters")
    params = []
    for element in root.iter():
        if _local(element.tag) == "GROUP" and element.get("name") == "inputParams":
            params += [(param.get("name", ""), param) for param in element if _local(param.tag) == "PARAM"]
        elif _local(element.tag) == "PARAM" and element.get("name", "").startswith("INPUT:"):
            params.append((element.get("name", "")[len("INPUT:") :], element))
    fields: dict[str, QueryField] = {}
    for name, param in params:
        if name.isidentifier() and name.lower() not in fields:
            fields[name.lower()] = _field(name, param)
    return tuple(fields.values())


def _field(name: str, param: ElementTree.Element) -> QueryField:
    datatype, arraysize = param.get("datatype", "char"), param.get("arraysize", "")
    kind = FieldType.TEXT
    if datatype == "boolean":
        kind = FieldType.BOOLEAN
    elif datatype in NUMBER_TYPES and arraysize in ("", "1"):
        kind = NUMBER_TYPES[datatype]
    values = next((child for child in param if _local(child.tag) == "VALUES"), None)
    choices = tuple(
        option.get("value", "") for option in (values if values is not None else ()) if _local(option.tag) == "OPTION"
    )
    if choices and kind is FieldType.TEXT:
        kind = FieldType.CHOICE
    description = next((child.text or "" for child in param if _local(child.tag) == "DESCRIPTION"), "")
    field = QueryField(
        name=name,
        label=name,
        type=kind,
        help=" ".join(description.split()),
        choices=tuple(dict.fromkeys(choice for choice in choices if choice)) if kind is FieldType.CHOICE else (),
        minimum=_bound(values, "MIN"),
        maximum=_bound(values, "MAX"),
    )
    default = param.get("value", "").strip()
    try:
        return QueryField(**{**field.__dict__, "default": field.convert(default)}) if default else field
    except ValueError:
        return field  # a default the field's own check refuses is no default


def _bound(values: ElementTree.Element | None, which: str) -> float | None:
    for child in values if values is not None else ():
        if _local(child.tag) == which:
            try:
                return float(child.get("value", ""))
            except ValueError:
                return None
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
