"""Connect to a Rucio instance as the user or the service account, and word its failures.

rucio-clients is imported here, lazily, so that importing the plugin stays cheap.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from esap_core import ArchiveError, UserContext
from esap_rucio.settings import Instance

DATABASE_ERROR = re.compile(r"\((sqlite3|psycopg2?|cx_Oracle|oracledb|pymysql|MySQLdb)\.|\[SQL: ")


class Deadline:
    """The time left for one ESAP call, which may make several Rucio requests."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0


class ServiceTokens:
    """The last Rucio token of each service account, so each search does not log in again.

    Keyed by the whole instance, credentials included: changed settings log in afresh.
    """

    def __init__(self) -> None:
        self._tokens: dict[Instance, str] = {}
        self._lock = threading.Lock()

    def get(self, instance: Instance) -> str | None:
        with self._lock:
            return self._tokens.get(instance)

    def put(self, instance: Instance, token: str) -> None:
        with self._lock:
            self._tokens[instance] = token


SERVICE_TOKENS = ServiceTokens()


@functools.cache
def client_class() -> type:
    """rucio's Client, changed to keep its token in memory and never prompt.

    The stock client caches tokens in a file per local user and account (shared
    between instances and between ESAP users) and falls back to an interactive
    OIDC login; a web service wants neither. The overridden methods are
    BaseClient's private ``__authenticate``, ``__get_token`` and ``__write_token``
    (rucio-clients 41.x).
    """
    from rucio.client import Client
    from rucio.common.exception import CannotAuthenticate

    class InMemoryClient(Client):
        def __init__(self, token: str | None, user_token: bool, account: str | None, **kwargs: Any):
            self.esap_token = token
            self.esap_user_token = user_token
            # Given no account, the client looks in $RUCIO_ACCOUNT and a rucio.cfg; a
            # user's token names its account itself, so none is sent (header left out).
            super().__init__(account=account or "", **kwargs)
            self.account = account

        def _BaseClient__authenticate(self) -> None:
            if self.esap_token:
                self.auth_token = self.esap_token
            else:
                self._BaseClient__get_token()

        def _BaseClient__get_token(self) -> None:
            if self.esap_user_token:
                raise CannotAuthenticate("the server did not accept the user's token")
            super()._BaseClient__get_token()

        def _BaseClient__write_token(self) -> None:
            """Keep the token in memory only."""

    return InMemoryClient


def user_token(instance: Instance, user: UserContext) -> str:
    """The user's delegated token; CredentialsExpired goes up so the core asks them to log in."""
    token = user.access_token()
    if not token:
        raise ArchiveError(
            f"{instance.title} needs your login token, and this ESAP has no OIDC login: "
            "ask an administrator to configure a service account for it"
        )
    return token


def client_arguments(instance: Instance, timeout: float) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "rucio_host": instance.host,
        "auth_host": instance.auth_host,
        "account": instance.account,
        "vo": instance.vo,
        "timeout": max(1, math.ceil(timeout)),
        "user_agent": "esap-rucio",
    }
    if instance.ca_cert:
        arguments["ca_cert"] = instance.ca_cert
    if instance.auth == "userpass":
        password = instance.password.reveal() if instance.password else ""
        arguments.update(auth_type="userpass", creds={"username": instance.username, "password": password})
    elif instance.auth == "x509":
        creds = {"client_cert": instance.client_cert}
        if instance.client_key:
            creds["client_key"] = instance.client_key
        arguments.update(auth_type="x509", creds=creds)
    else:
        arguments.update(auth_type="oidc", creds={})
    return arguments


@contextmanager
def connect(instance: Instance, user: UserContext, deadline: Deadline) -> Iterator[Any]:
    """A rucio Client for ``user`` on ``instance``; Rucio's failures leave as ArchiveError."""
    as_user = instance.auth == "token"
    token = user_token(instance, user) if as_user else SERVICE_TOKENS.get(instance)
    with rucio_errors(instance, deadline):
        client = client_class()(token, as_user, **client_arguments(instance, deadline.remaining()))
        try:
            yield client
        finally:
            client.session.close()
            if not as_user and client.auth_token:
                SERVICE_TOKENS.put(instance, client.auth_token)


def tighten(client: Any, deadline: Deadline) -> None:
    """Give the next request only the time left; raise when none is."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise TimeoutError
    client.timeout = max(1, math.ceil(remaining))


@contextmanager
def rucio_errors(instance: Instance, deadline: Deadline) -> Iterator[None]:
    """Turn what rucio-clients and requests raise into an ArchiveError a researcher can read."""
    import requests
    from rucio.common import exception as rucio

    where = f"Rucio ({instance.title})"
    try:
        yield
    except (requests.Timeout, TimeoutError) as error:
        raise ArchiveError(f"{where} did not answer within {deadline.seconds:g} s") from error
    except (requests.ConnectionError, rucio.ServerConnectionException) as error:
        raise ArchiveError(f"{where} cannot be reached at {instance.host}: is it up?") from error
    except (rucio.CannotAuthenticate, rucio.NoAuthInformation) as error:
        raise ArchiveError(f"{where} refused the credentials: {details(error)}") from error
    except rucio.MissingClientParameter as error:
        raise ArchiveError(f"{where} is not configured correctly: {details(error)}") from error
    except rucio.AccessDenied as error:
        raise ArchiveError(f"{where} refused access: {details(error)}") from error
    except rucio.ScopeNotFound as error:
        raise ArchiveError(f"{where} has no such scope: {details(error)}") from error
    except rucio.DataIdentifierNotFound as error:
        raise ArchiveError(f"{where} has no such DID: {details(error)}") from error
    except (rucio.RSENotFound, rucio.InvalidRSEExpression) as error:
        raise ArchiveError(f"{where} has no such storage element: {details(error)}") from error
    except rucio.RucioException as error:
        raise ArchiveError(f"{where} failed: {details(error)}") from error
    except requests.RequestException as error:
        raise ArchiveError(f"{where} failed: {error}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise ArchiveError(f"{where} answered something ESAP cannot read ({error})") from error


def details(error: Exception) -> str:
    """Rucio's most telling sentence: the server's detail, unless that is a database error."""
    summary = " ".join(str(getattr(error, "_message", "")).split())
    detail = " ".join(" ".join(str(arg) for arg in error.args if arg).split())
    detail = re.sub(r"^[A-Za-z]+: ", "", detail)  # the exception class the server sends first
    if not detail or DATABASE_ERROR.search(detail):
        return summary or type(error).__name__
    return detail
