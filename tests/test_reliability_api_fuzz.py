"""API fuzzing: schemathesis sends generated requests to every operation of /api/v1/openapi.json.

Authenticated as an admin with a token of every scope, on a real database and Redis, with
the BinderHub plugin loaded and a facility on the local BinderHub. Every answer must be no
5xx, carry the declared content type, and conform to the operation's response schema.
Bounded: a few examples per operation, no deadline. Name lookups other than this
machine's are refused, so a generated URL never leaves loopback.
"""

from __future__ import annotations

import os
import socket

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from esap_core import tokens
from esap_core.models import Software
from tests.fixtures import bearer, make_user

EXAMPLES = int(os.environ.get("ESAP_FUZZ_EXAMPLES", "8"))  # per operation and mode; more outside make test
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_CLIENT = {"REMOTE_ADDR": "127.0.0.1"}  # schemathesis's WSGI client sets no address


@pytest.fixture
def fuzzed_app(app_factory, binderhub_server, db, monkeypatch):
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if str(host) not in LOOPBACK_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "only loopback names resolve during the API fuzzing")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    app = app_factory(
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


def fuzz(operation, mode: GenerationMode, headers: dict[str, str]) -> None:
    """Hypothesis over one operation's generated requests; raises on the first failing check."""

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

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # an operation without parameters has no invalid request


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
    for operation in operations:
        try:
            fuzz(operation, mode, every_scope)
        except (Exception, BaseExceptionGroup) as error:  # collect every operation's failure, report them all
            failures.append(f"{operation.label}: {_first_lines(error)}")
    assert not failures, "\n\n".join(failures)
