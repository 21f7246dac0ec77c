"""Reading BinderHub's event stream: data lines, blank-line ends, comments, broken data."""

import pytest
from esap_binderhub.events import read_events

from esap_core import FacilityError


def test_events_split_across_chunks_and_comments_skipped():
    chunks = [b'data: {"phase": "wai', b'ting"}\n', b"\n:keepalive\n\n", b'data: {"phase": "built"}\r\n\r\n']

    assert list(read_events(chunks)) == [{"phase": "waiting"}, {"phase": "built"}]


def test_multi_line_data_is_one_event():
    chunks = [b'data: {"phase":\ndata: "ready"}\n\n']

    assert list(read_events(chunks)) == [{"phase": "ready"}]


def test_every_chunk_reaches_the_deadline_check():
    seen = []
    chunks = [b":keepalive\n\n", b":keepalive\n\n", b'data: {"phase": "waiting"}\n\n']

    events = list(read_events(chunks, lambda: seen.append(1)))

    assert len(seen) == 3 and events == [{"phase": "waiting"}]


def test_an_unfinished_event_is_not_yielded():
    assert list(read_events([b'data: {"phase": "ready"}\n'])) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"data: <html>\n\n", "not JSON: '<html>'"), (b"data: [1, 2]\n\n", "not a JSON object")],
)
def test_garbage_is_a_clear_error(raw, message):
    with pytest.raises(FacilityError, match=message):
        list(read_events([raw]))
