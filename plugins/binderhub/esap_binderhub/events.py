"""Read a server-sent event stream (text/event-stream) into JSON events.

Follows the WHATWG event-stream format as BinderHub writes it: ``data:`` lines, a
blank line ending each event, and comment lines (``:keepalive``) that only keep
the connection alive and are skipped.
"""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from esap_core import FacilityError


def read_events(chunks: Iterable[bytes], on_chunk=lambda: None) -> Iterator[dict[str, Any]]:
    """Yield each event's JSON data from the raw ``chunks`` of a stream.

    ``on_chunk`` is called after every chunk, keep-alives included, so a caller
    can enforce a deadline even while the server only sends comments.
    """
    buffer = b""
    data: list[str] = []
    for chunk in chunks:
        on_chunk()
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw_line in lines:
            line = raw_line.decode("utf-8", errors="replace").removesuffix("\r")
            if not line:
                if data:
                    yield _parse("\n".join(data))
                    data = []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            # Comments (":keepalive") and the fields BinderHub does not use are skipped.


def _parse(text: str) -> dict[str, Any]:
    try:
        event = json.loads(text)
    except ValueError:
        raise FacilityError(f"BinderHub sent an event that is not JSON: {text[:200]!r}") from None
    if not isinstance(event, dict):
        raise FacilityError(f"BinderHub sent an event that is not a JSON object: {text[:200]!r}")
    return event
