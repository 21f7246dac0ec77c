"""Build ADQL from untrusted values without injection: quoted strings, checked names, numbers."""

from __future__ import annotations

import re

from esap_vo.position import Position

# schema.table or table, and plain column names: nothing that could end the statement
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def string(text: str) -> str:
    """An ADQL string literal: single quotes doubled, control characters refused."""
    if any(ord(char) < 32 for char in text):
        raise ValueError("text must not contain control characters")
    return "'" + text.replace("'", "''") + "'"


def table_name(name: str) -> str:
    """``name`` if it is a plain (optionally schema-qualified) table name; ValueError otherwise."""
    if not NAME.match(name):
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def column_name(name: str) -> str:
    """``name`` if it is a plain column name; ValueError otherwise."""
    if not COLUMN.match(name):
        raise ValueError(f"not a plain column name: {name!r}")
    return name


def in_cone(ra_column: str, dec_column: str, where: Position) -> str:
    """The ADQL condition: the point (ra_column, dec_column) lies in the cone ``where``."""
    return (
        f"1 = CONTAINS(POINT('ICRS', {column_name(ra_column)}, {column_name(dec_column)}), "
        f"CIRCLE('ICRS', {where.ra!r}, {where.dec!r}, {where.radius!r}))"
    )
