"""Turn a VOTable result (pyvo DALResults) into an ESAP ResultPage of JSON-safe rows."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from esap_core import Column, ResultPage


def json_safe(value: Any) -> Any:
    """A plain JSON value for one VOTable cell: masked and NaN become None, bytes become str."""
    import numpy

    if value is None or value is numpy.ma.masked:
        return None
    if isinstance(value, numpy.ndarray):
        if value.dtype.kind == "f" and value.dtype.itemsize < 8:  # item by item: tolist() widens each one
            return [json_safe(item) for item in value]
        return [json_safe(item) for item in value.tolist()]  # a masked array's tolist() turns masked items into None
    if isinstance(value, numpy.floating) and value.dtype.itemsize < 8:
        # A REAL (float32) cell as the archive sent it: 5.1, not the 5.099999904632568 that widening it gives.
        # numpy's str() is the shortest text that reads back as the same float32.
        value = float(str(value))
    elif isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def columns_of(results) -> list[Column]:
    """The columns of a pyvo result, with unit, UCD and description from the VOTable FIELDs."""
    columns = []
    for field in results.fielddescs:
        columns.append(
            Column(
                name=field.name,
                unit=str(field.unit or ""),
                ucd=field.ucd or "",
                description=" ".join((field.description or "").split()),
                datatype=field.datatype or "",
            )
        )
    return columns


def rows_of(results) -> list[dict[str, Any]]:
    """The rows of a pyvo result as dicts of JSON-safe values."""
    table = results.to_table()
    names = table.colnames
    return [{name: json_safe(row[name]) for name in names} for row in table]


@contextmanager
def overflow_as_note() -> Iterator[None]:
    """Silence pyvo's overflow warning: result_page reports a cut result as a note instead."""
    from pyvo.dal.exceptions import DALOverflowWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DALOverflowWarning)
        yield


def overflowed(results) -> bool:
    """Whether the service cut the result short at its row limit (MAXREC)."""
    return getattr(results, "query_status", None) == "OVERFLOW"


def result_page(results, page: int = 1, page_size: int | None = None, max_rows: int | None = None) -> ResultPage:
    """One page of ``results``, or (at most ``max_rows`` of) all of it when ``page_size`` is None.

    For a page, the service is asked for the rows up to this page and one more, so
    ``total`` is known only on the last page.
    """
    rows, columns = rows_of(results), columns_of(results)
    cut = overflowed(results) or (max_rows is not None and len(rows) > max_rows)
    rows = rows if max_rows is None else rows[:max_rows]
    notes = ["The service stopped at its row limit: there are more rows."] if cut else []
    if page_size is None:
        return ResultPage(columns, rows, 1, max(len(rows), 1), None if cut else len(rows), notes)
    start = (page - 1) * page_size
    more = cut or len(rows) > start + page_size
    return ResultPage(columns, rows[start : start + page_size], page, page_size, None if more else len(rows), notes)
