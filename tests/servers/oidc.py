"""A real OpenID provider on 127.0.0.1 (``oidc-provider`` from npm, run by node) for the login tests.

Installed by ``tests/servers/oidc/install.sh`` (``npm ci`` beside ``op.mjs``). The fixture
``oidc_provider`` starts one provider per test session. It knows two confidential clients
(client_secret_basic, PKCE required): ``esap``/``secret`` and ``esap-other``/``other-secret``
(for negative tests). Any ``http://127.0.0.1:<port>/<path>`` is a valid redirect and
post-logout redirect URI, so test servers on random ports need no registration. Any login
name is accepted with any password and becomes ``sub``; ``alice`` is in the groups
``esap-users`` and ``admins``, everyone else only in ``esap-users``. ID tokens carry the
claims of the granted scopes (``email``, ``profile``, ``groups``), and every code grant
also issues a refresh token.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import pytest
import requests
from joserfc.jwk import RSAKey

if TYPE_CHECKING:
    from playwright.sync_api import Page

HERE = Path(__file__).parent / "oidc"
INSTALL_HINT = "run tests/servers/oidc/install.sh (or `make setup`)"
TIMEOUT = 10
# Login, consent and the redirects between them take six responses; more means a loop.
MAX_STEPS = 12


class _FormParser(HTMLParser):
    """Reads the first form of a page: its action and its named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = values.get("action") or ""
        elif tag == "input" and self.action is not None and not self._done and values.get("name"):
            self.fields[values["name"]] = values.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.action is not None:
            self._done = True


def _first_form(response: requests.Response) -> tuple[str, dict[str, str]] | None:
    parser = _FormParser()
    parser.feed(response.text)
    if parser.action is None:
        return None
    return urljoin(response.url, parser.action), parser.fields


def _unexpected(response: requests.Response, doing: str) -> AssertionError:
    return AssertionError(
        f"{doing}: the OpenID provider answered {response.status_code} at {response.url}:\n{response.text[:2000]}"
    )


@dataclass(frozen=True)
class OidcProvider:
    """A running test provider: its issuer, its clients, and the user's side of login and logout."""

    issuer: str
    pid: int
    client_id: str = "esap"
    client_secret: str = "secret"
    other_client_id: str = "esap-other"
    other_client_secret: str = "other-secret"
    signing_key: RSAKey | None = None  # the provider's private key, for tests that play an attacker holding it

    def at_provider(self, url: str) -> bool:
        """Whether ``url`` is one of the provider's own pages (not the client's)."""
        return url == self.issuer or url.startswith(f"{self.issuer}/")

    def login(self, session: requests.Session, authorize_url: str, user: str = "alice") -> str:
        """Log ``user`` in and consent, as a browser would; return the redirect to the client.

        The returned URL carries ``code`` and ``state`` (or ``error``) and is not followed.
        A session already logged in and consented goes straight to the redirect.
        """
        response = session.get(authorize_url, allow_redirects=False, timeout=TIMEOUT)
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if not self.at_provider(location):
                    return location
                response = session.get(location, allow_redirects=False, timeout=TIMEOUT)
                continue
            form = _first_form(response) if response.status_code == 200 else None
            if form is None or form[1].get("prompt") not in ("login", "consent"):
                raise _unexpected(response, f"logging {user} in")
            action, fields = form
            if fields["prompt"] == "login":
                fields.update(login=user, password="any password")
            response = session.post(action, data=fields, allow_redirects=False, timeout=TIMEOUT)
        raise AssertionError(f"logging {user} in took more than {MAX_STEPS} steps, last at {response.url}")

    def logout(self, session: requests.Session, end_session_url: str) -> str:
        """Confirm an RP-initiated logout (``end_session_url`` as the client built it).

        Returns where the provider redirects afterwards (the ``post_logout_redirect_uri``
        with ``state``, or its own success page), without following it.
        """
        response = session.get(end_session_url, allow_redirects=False, timeout=TIMEOUT)
        form = _first_form(response) if response.status_code == 200 else None
        if form is None or "xsrf" not in form[1]:
            raise _unexpected(response, "asking for logout")
        action, fields = form
        fields["logout"] = "yes"
        response = session.post(action, data=fields, allow_redirects=False, timeout=TIMEOUT)
        if not response.is_redirect:
            raise _unexpected(response, "confirming logout")
        return urljoin(response.url, response.headers["Location"])

    def login_in_browser(self, page: Page, user: str = "alice") -> str:
        """On the provider's login page, log ``user`` in and consent; return the client URL reached."""
        page.locator("input[name=login]").fill(user)
        page.locator("input[name=password]").fill("any password")
        login_url = page.url
        page.locator("button.login-submit").click()
        page.wait_for_url(lambda url: url != login_url)
        if page.locator("input[name=prompt][value=consent]").count():
            page.locator("button.login-submit").click()
        page.wait_for_url(lambda url: not self.at_provider(url))
        return page.url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the OpenID provider exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        if "READY " in log.read_text():
            return
        time.sleep(0.1)
    pytest.fail(f"the OpenID provider did not print READY within {timeout} s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """An OpenID provider on a free loopback port for the whole session (see the module docstring)."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"node or oidc-provider is not installed: {INSTALL_HINT}")
    port = _free_port()
    # No redirect URI lists in the environment: the provider then accepts any loopback URI.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("OIDC_REDIRECT_URIS", "OIDC_POST_LOGOUT_REDIRECT_URIS")
    }
    env["PORT"] = str(port)
    folder = tmp_path_factory.mktemp("oidc")
    signing_key = RSAKey.generate_key(2048, {"kid": "test-rs256", "use": "sig", "alg": "RS256"})
    env["OP_SIGNING_JWK_FILE"] = str(folder / "signing-key.json")
    (folder / "signing-key.json").write_text(json.dumps(signing_key.as_dict(private=True)))
    log = folder / "op.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, "op.mjs"],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(process, log)
        yield OidcProvider(issuer=f"http://127.0.0.1:{port}", pid=process.pid, signing_key=signing_key)
    finally:
        _stop(process)
        print(f"OpenID provider log: {log}", file=sys.stderr)
