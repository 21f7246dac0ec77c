"""The fan-out and the checks on query values, with archives made for the test (no servers needed)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from esap_core import (
    Archive,
    ArchiveError,
    Column,
    CredentialsExpired,
    DataItem,
    FieldType,
    QueryField,
    QueryKind,
    ResultPage,
    UserContext,
    discovery,
    hookimpl,
)
from esap_core.discovery import QueryError


class Fixed(Archive):
    """Answers position queries with one row saying what it was asked."""

    answers = frozenset({QueryKind.POSITION})
    fields = (QueryField("radius", "Radius", FieldType.NUMBER, maximum=5.0),)

    def __init__(self, name: str, behaviour=None, answers=None):
        self.name, self.title, self.behaviour = name, name.title(), behaviour
        self.asked: list = []
        if answers is not None:
            self.answers = answers

    def search(self, query, page, user, timeout):
        self.asked.append((dict(query), page, timeout, threading.current_thread().name))
        if self.behaviour is not None:
            return self.behaviour(query, user, timeout)
        return ResultPage([Column("ra", unit="deg")], [{"ra": query.get("ra"), "archive": self.name}], total=1)

    def basket_item(self, row):
        return DataItem(str(row["ra"]), "row", {"method": "http", "url": "https://example.org/x"})


def sleeper(seconds):
    def behaviour(query, user, timeout):
        time.sleep(seconds)  # ignores its timeout on purpose
        return ResultPage([], [])

    return behaviour


def raising(error):
    def behaviour(query, user, timeout):
        raise error

    return behaviour


class Plugin:
    def __init__(self, *archives):
        self.archives = archives

    @hookimpl
    def register_archives(self, register):
        for archive in self.archives:
            register(archive)


@pytest.fixture
def make_app(app_factory):
    def make(*archives, **config):
        return app_factory(extra_plugins=[("test-archives", Plugin(*archives))], **config)

    return make


POSITION = {"ra": "10", "dec": "10", "radius": "0.5"}


# --- checking values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (QueryField("n", "N", FieldType.NUMBER), " 1.5 ", 1.5),
        (QueryField("n", "N", FieldType.INTEGER), "7", 7),
        (QueryField("n", "N", FieldType.INTEGER), 7.0, 7),
        (QueryField("b", "B", FieldType.BOOLEAN), "on", True),
        (QueryField("b", "B", FieldType.BOOLEAN), "false", False),
        (QueryField("c", "C", FieldType.CHOICE, choices=("x", "y")), "y", "y"),
        (QueryField("t", "T"), "  M31 ", "M31"),
    ],
)
def test_values_are_converted(spec, value, expected):
    assert discovery.check([spec], {spec.name: value}) == {spec.name: expected}
    assert type(discovery.check([spec], {spec.name: value})[spec.name]) is type(expected)


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (QueryField("ra", "RA", FieldType.NUMBER), "ten", "RA must be a number, not 'ten'"),
        (QueryField("ra", "RA", FieldType.NUMBER), "nan", "RA must be a finite number"),
        (QueryField("ra", "RA", FieldType.NUMBER), True, "RA must be a number"),
        (QueryField("ra", "RA", FieldType.NUMBER, minimum=0, maximum=360), "361", "RA must be at most 360, not 361"),
        (QueryField("r", "Radius", FieldType.NUMBER, minimum=0), "-1", "Radius must be at least 0, not -1"),
        (QueryField("n", "N", FieldType.INTEGER), "2.5", "N must be a whole number"),
        (QueryField("c", "Type", FieldType.CHOICE, choices=("tap", "scs")), "ftp", "Type must be one of tap, scs"),
        (QueryField("b", "Flag", FieldType.BOOLEAN), "maybe", "Flag must be true or false"),
        (QueryField("t", "Name"), "a\x00b", "Name must not contain control characters"),
        (QueryField("t", "Name"), "x" * 1001, "Name must be at most 1000 characters"),
    ],
)
def test_bad_values_say_what_is_wrong(spec, value, message):
    with pytest.raises(QueryError) as caught:
        discovery.check([spec], {spec.name: value})
    assert caught.value.problems[spec.name].startswith(message)


def test_required_defaults_and_unknown_keys():
    specs = (
        QueryField("keywords", "Keywords", required=True),
        QueryField("kind", "Kind", FieldType.CHOICE, default="any", choices=("any", "tap")),
    )
    with pytest.raises(QueryError, match="keywords: Keywords is required"):
        discovery.check(specs, {"keywords": "   "})
    assert discovery.check(specs, {"keywords": "stars", "other": "ignored"}) == {"keywords": "stars", "kind": "any"}


def test_the_kind_of_question_is_the_one_filled_in():
    assert discovery.kind_of(POSITION) is QueryKind.POSITION
    assert discovery.kind_of({"target": "M31", "radius": "0.1"}) is QueryKind.TARGET  # a radius alone asks nothing
    assert discovery.kind_of({"keywords": "stars"}) is QueryKind.KEYWORDS
    with pytest.raises(QueryError, match="Give a position"):
        discovery.kind_of({"radius": "1"})
    with pytest.raises(QueryError, match="one kind of question at a time: you gave a position and keywords"):
        discovery.kind_of({"ra": "1", "keywords": "x"})


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"ra": "ten", "dec": "1"}, "ra", "RA (deg) must be a number"),
        ({"ra": "1", "dec": "91"}, "dec", "Dec (deg) must be at most 90"),
        ({"ra": "1", "dec": "1", "radius": "-0.5"}, "radius", "Radius (deg) must be at least 0"),
        ({"ra": "1", "dec": "1", "radius": "0"}, "radius", "Radius (deg) must be more than 0"),
        ({"ra": "1"}, "dec", "Dec (deg) is required"),
    ],
)
def test_bad_positions(values, field, message):
    with pytest.raises(QueryError) as caught:
        discovery.check_kind(QueryKind.POSITION, values)
    assert caught.value.problems[field].startswith(message)


# --- the fan-out ------------------------------------------------------------------------------


def test_every_answering_archive_is_asked_at_once(make_app):
    archives = [Fixed(f"a{i}", sleeper(0.6)) for i in range(4)]
    keywords_only = Fixed("words", answers=frozenset({QueryKind.KEYWORDS}))
    app = make_app(*archives, keywords_only)
    with app.app_context():
        started = time.monotonic()
        outcomes = discovery.fan_out(
            app.extensions["esap.plugins"].archives.values(), QueryKind.POSITION, POSITION, UserContext("tester"), 5
        )
        elapsed = time.monotonic() - started
    assert [outcome.archive for outcome in outcomes] == ["a0", "a1", "a2", "a3"]
    assert all(outcome.ok and outcome.status == "ok" for outcome in outcomes)
    assert elapsed < 2.0  # four archives of 0.6 s each, side by side
    assert keywords_only.asked == []
    assert len({archive.asked[0][3] for archive in archives}) == 4  # four threads
    assert archives[0].asked[0][:3] == ({"ra": 10.0, "dec": 10.0, "radius": 0.5}, 1, 5)


def test_failures_become_messages_and_never_stop_the_others(make_app, caplog):
    app = make_app(
        Fixed("fine"),
        Fixed("slow", sleeper(5)),
        Fixed("refusing", raising(ArchiveError("the service said no: <b>bad</b>"))),
        Fixed("buggy", raising(ZeroDivisionError("secret internals"))),
        Fixed("expired", raising(CredentialsExpired("refresh token expired"))),
        Fixed("odd", lambda query, user, timeout: ["not", "a", "page"]),
    )
    with app.app_context(), caplog.at_level(logging.ERROR, logger="esap_core.discovery"):
        started = time.monotonic()
        outcomes = {
            outcome.archive: outcome
            for outcome in discovery.fan_out(
                app.extensions["esap.plugins"].archives.values(),
                QueryKind.POSITION,
                POSITION,
                UserContext("tester"),
                1,
            )
        }
        elapsed = time.monotonic() - started
    assert elapsed < 1 + discovery.GRACE + 1
    assert outcomes["fine"].ok and outcomes["fine"].result.rows[0]["archive"] == "fine"
    assert (outcomes["slow"].status, outcomes["slow"].message) == ("timeout", "Slow did not answer within 1 s.")
    assert (outcomes["refusing"].status, outcomes["refusing"].message) == ("error", "the service said no: <b>bad</b>")
    assert outcomes["buggy"].status == "error"
    assert outcomes["buggy"].message == "Buggy failed unexpectedly; the error is logged."
    assert "secret internals" in caplog.text and "secret internals" not in outcomes["buggy"].message
    assert (outcomes["expired"].status, outcomes["expired"].message) == ("login", discovery.RELOGIN)
    assert outcomes["odd"].status == "error" and "cannot show" in outcomes["odd"].message
    assert all(outcome.result is None for name, outcome in outcomes.items() if name != "fine")


def test_the_shared_question_keeps_within_every_asked_archives_bounds(make_app):
    app = make_app(Fixed("narrow"), Fixed("wide"), Fixed("words", answers=frozenset({QueryKind.KEYWORDS})))
    archives = app.extensions["esap.plugins"].archives
    archives["wide"].fields = ()
    archives["words"].fields = (QueryField("radius", "Radius", FieldType.NUMBER, maximum=1.0),)  # asks no position
    [ra, dec, radius] = discovery.kind_fields(archives.values())[QueryKind.POSITION]
    assert (radius.minimum, radius.maximum) == (0, 5.0) and radius.help.endswith("; Narrow searches at most 5")
    assert (ra, dec) == discovery.KIND_FIELDS[QueryKind.POSITION][:2]
    with app.app_context():
        with pytest.raises(QueryError) as refused:
            discovery.fan_out(
                archives.values(), QueryKind.POSITION, {"ra": "1", "dec": "1", "radius": "7"}, UserContext("t"), 5
            )
        assert refused.value.problems == {"radius": "Radius (deg) must be at most 5, not 7 (Narrow searches at most 5)"}
        assert archives["narrow"].asked == archives["wide"].asked == []
        outcomes = discovery.fan_out(
            archives.values(), QueryKind.POSITION, {"ra": "1", "dec": "1", "radius": "4"}, UserContext("t"), 5
        )
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"]


def test_an_archive_refusing_its_share_of_the_question_gets_its_own_message(make_app):
    app = make_app(Fixed("picky"), Fixed("easy"))
    archives = app.extensions["esap.plugins"].archives
    archives["easy"].fields = ()
    archives["picky"].fields = (
        QueryField("radius", "Radius", FieldType.NUMBER, maximum=5.0),
        QueryField("band", "Band", required=True),
    )
    with app.app_context():
        picky, easy = discovery.fan_out(
            archives.values(), QueryKind.POSITION, {"ra": "1", "dec": "1", "radius": "2"}, UserContext("t"), 5
        )
    assert picky.status == "invalid" and "Band is required" in picky.message
    assert easy.ok


def test_the_question_itself_is_checked_first(make_app):
    app = make_app(Fixed("a"))
    with app.app_context(), pytest.raises(QueryError, match="Radius \\(deg\\) must be at least 0"):
        discovery.fan_out(
            app.extensions["esap.plugins"].archives.values(),
            QueryKind.POSITION,
            {"ra": "1", "dec": "1", "radius": "-1"},
            UserContext("tester"),
            5,
        )
    assert app.extensions["esap.plugins"].archives["a"].asked == []


def test_the_delegated_token_is_fetched_once_for_all_archives(make_app):
    calls = []

    def token():
        calls.append(threading.current_thread().name)
        time.sleep(0.1)
        return "token-1"

    seen = []

    def uses_token(query, user, timeout):
        seen.append(user.access_token())
        return ResultPage([], [])

    app = make_app(*[Fixed(f"t{i}", uses_token) for i in range(3)])
    with app.app_context():
        outcomes = discovery.fan_out(
            app.extensions["esap.plugins"].archives.values(),
            QueryKind.POSITION,
            POSITION,
            UserContext("tester", access_token=token),
            5,
        )
    assert all(outcome.ok for outcome in outcomes)
    assert seen == ["token-1"] * 3 and len(calls) == 1


def test_an_oidc_user_without_a_token_is_asked_to_log_in_again(make_app, make_user_in):
    def needs_token(query, user, timeout):
        return ResultPage([], [{"token": user.access_token()}])

    app = make_app(Fixed("private", needs_token))
    user = make_user_in(app)
    with app.app_context():
        from esap_core import accounts, db

        context = accounts.user_context(db.session().merge(user))
        outcome = discovery.ask(app.extensions["esap.plugins"].archives["private"], POSITION, 1, context, 5)
    assert (outcome.status, outcome.message) == ("login", discovery.RELOGIN)


@pytest.fixture
def make_user_in():
    from tests.fixtures import make_user

    return lambda app: make_user(app, "olivia")


def reworded_timeout(query, user, timeout):
    import requests

    try:
        raise requests.ReadTimeout("read timed out")
    except requests.Timeout:
        raise ArchiveError("the service did not answer in time") from None


def test_a_timeout_the_archive_words_itself_is_still_a_timeout(make_app):
    app = make_app(Fixed("reworded", reworded_timeout), Fixed("plain", raising(ArchiveError("no"))))
    with app.app_context():
        outcomes = discovery.fan_out(
            app.extensions["esap.plugins"].archives.values(), QueryKind.POSITION, POSITION, UserContext("t"), 5
        )
    assert [(o.status, o.message) for o in outcomes] == [
        ("timeout", "the service did not answer in time"),
        ("error", "no"),
    ]
