"""API fuzzing: schemathesis sends generated requests to every operation of /api/v1/openapi.json.

Beside what schemathesis generates from the schema, every operation also gets the shapes
that broke ESAP once (issue 13): integers past 64 bits, JSON nested thousands deep, lone
surrogates and NUL characters, in each query, path and body field of a valid request.

Authenticated as an admin with a token of every scope, on a real database and Redis, with
the BinderHub plugin loaded, a facility on the local BinderHub, and a workspace storage in a
folder. Every answer must be no 5xx, carry the declared content type, and conform to the operation's response schema.
Bounded: a few examples per operation, no deadline. Name lookups other than this
machine's are refused, so a generated URL never leaves loopback.
"""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from esap_core import tokens
from esap_core.models import Software
from tests.fixtures import bearer, make_user
from tests.folder_storage import FolderStoragePlugin

EXAMPLES = int(os.environ.get("ESAP_FUZZ_EXAMPLES", "8"))  # per operation and mode; more outside make test
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_CLIENT = {"REMOTE_ADDR": "127.0.0.1"}  # schemathesis's WSGI client sets no address


@pytest.fixture
def fuzzed_app(app_factory, binderhub_server, db, monkeypatch, tmp_path):
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if str(host) not in LOOPBACK_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "only loopback names resolve during the API fuzzing")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    app = app_factory(
        extra_plugins=[("folder-storage", FolderStoragePlugin(tmp_path / "workspaces", quota=10_000_000))],
        load_plugins=["binderhub"],
        facilities=[{"name": "local-binder", "kind": "binderhub", "url": binderhub_server.url}],
    )
    db.add(Software(source="blank-notebook", external_id="fuzz", name="Fuzz", repository_url="https://github.com/a/b"))
    db.commit()
    return app


@pytest.fixture
def every_scope(fuzzed_app):
    admin = make_user(fuzzed_app, "fuzzer", admin=True)
    headers = bearer(fuzzed_app, admin, tokens.SCOPES)
    client = fuzzed_app.test_client()
    client.get("/api/v1/health")  # registers the configured facility
    client.post("/api/v1/basket/items", headers=headers, json={"archive": "fuzz", "identifier": "one", "title": "One"})
    return headers


def fuzz(operation, mode: GenerationMode, headers: dict[str, str], hostile=None) -> None:
    """Hypothesis over one operation's generated requests; raises on the first failing check.

    ``hostile``, a test client, also sends each generated request's hostile variants.
    """

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call(headers=headers, environ_base=LOOPBACK_CLIENT)
        case.validate_response(response, checks=CHECKS)
        assert "Traceback" not in response.text
        if hostile is not None:
            assert_hostile_shapes_are_refused_plainly(hostile, case, headers)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # an operation without parameters has no invalid request


HOSTILE_TEXT = ["99999999999999999999", "-99999999999999999999", "1e999", "\ud800", "a\x00b", "99999999999999999999d"]


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _hostile_bodies(body) -> list[str]:
    """JSON texts of ``body`` with one field at a time made hostile (JSON escapes keep surrogates and NUL)."""
    if not isinstance(body, dict) or not body:
        return [_deep(5000)]
    texts = []
    for key in body:
        for text in HOSTILE_TEXT:
            texts.append(json.dumps({**body, key: text}))
        texts.append(json.dumps({**body, key: 99999999999999999999}))
        texts.append(json.dumps({**body, key: None})[:-1] + f', "{key}": ' + _deep(3000) + "}")
    return texts


def _encoded(text) -> str:
    """Percent-encoded as a client would send it (a lone surrogate as the invalid UTF-8 bytes it becomes)."""
    return quote(str(text).encode("utf-8", "surrogatepass"), safe="")


def _hostile_queries(query) -> list[str]:
    query = dict(query or {})
    variants = [{**query, key: text} for key in query for text in HOSTILE_TEXT] or [{"page": HOSTILE_TEXT[0]}]
    return ["&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in variant.items()) for variant in variants]


def assert_hostile_shapes_are_refused_plainly(client, case, headers: dict[str, str]) -> None:
    """Each hostile variant of a valid request answers below 500, as JSON, without a trace."""
    path = case.formatted_path
    variants = [("query", query, None) for query in _hostile_queries(case.query)]
    if case.method.upper() in ("POST", "PUT", "PATCH", "DELETE") and case.media_type in (None, "application/json"):
        plain = "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in (case.query or {}).items())
        variants += [("body", plain, text) for text in _hostile_bodies(case.body)]
    for name in case.path_parameters or {}:
        for text in HOSTILE_TEXT:
            hostile_path = path.replace(str(case.path_parameters[name]), _encoded(text), 1)
            variants.append(("path", "", None, hostile_path))
    for where, query, body, *other in variants:
        response = client.open(
            other[0] if other else path,
            method=case.method.upper(),
            query_string=query,
            data=body,
            content_type="application/json" if body is not None else None,
            headers=headers,
            environ_base=LOOPBACK_CLIENT,
        )
        text = response.get_data(as_text=True)
        assert response.status_code < 500, f"{case.method} {path} ({where}): {response.status_code} {text[:300]}"
        assert "Traceback" not in text


def _first_lines(error: BaseException) -> str:
    found = error.exceptions if isinstance(error, BaseExceptionGroup) else [error]
    return " | ".join(" ".join(str(one).split())[:600] for one in found)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_5xx_or_off_schema(fuzzed_app, every_scope, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app, environ_base=LOOPBACK_CLIENT)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30  # every operation of the core and the plugins loaded here
    failures = []
    hostile = fuzzed_app.test_client() if mode is GenerationMode.POSITIVE else None
    for operation in operations:
        try:
            fuzz(operation, mode, every_scope, hostile)
        except (Exception, BaseExceptionGroup) as error:  # collect every operation's failure, report them all
            failures.append(f"{operation.label}: {_first_lines(error)}")
    assert not failures, "\n\n".join(failures)
