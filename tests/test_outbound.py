"""The outbound guard: which addresses are public, the URLs it refuses, and its tests in a loopback-only network."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from esap_core import AddressRefused, GuardedSession, outbound
from tests.listeners import Listener

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1::1", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # shared address space: cloud metadata lives there too
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:93.184.216.34", True),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 around 10.0.0.1
    ],
)
def test_what_counts_as_public(address, public):
    assert outbound.is_public(address) is public


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:1\\@93.184.216.34/", "backslash"),
        ("http://user:pw@example.org/", "user name or password"),
        ("http://exa mple.org/", "space"),
        ("http://example.org/\x00", "control character"),
        ("ftp://example.org/", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("http://example.org:99999/", "not a valid URL"),
        ("http:///path", "Only http:// and https://"),
    ],
)
def test_urls_parsers_may_read_differently_are_refused_before_any_lookup(url, reason, monkeypatch):
    monkeypatch.setattr(outbound, "resolver", lambda host, port: pytest.fail(f"{url} was resolved"))
    with pytest.raises(AddressRefused, match=reason):
        outbound.check_url(url)
    with GuardedSession(private_ok=True) as http, pytest.raises(AddressRefused, match=reason):
        http.get(url)


def test_without_the_guard_allowing_private_addresses_nothing_inside_is_reached():
    with Listener() as inside, GuardedSession(private_ok=False) as http:
        with pytest.raises(AddressRefused):
            http.get(inside.url)
        assert inside.connections == []
    with Listener() as inside, GuardedSession(private_ok=True) as http:
        assert http.get(inside.url).status_code == 200 and len(inside.connections) == 1


def test_environment_proxies_and_netrc_are_not_used(monkeypatch, tmp_path):
    with Listener() as proxy, Listener() as target:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
        (tmp_path / "netrc").write_text("machine 127.0.0.1 login me password secret\n")
        with GuardedSession(private_ok=True) as http:
            http.get(target.url)
        assert proxy.connections == [] and b"Authorization" not in target.connections[0]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_the_shapes_that_need_a_public_address_in_a_network_with_only_loopback():
    """Runs tests/netns in a private network namespace: even a broken guard could send nothing off this machine."""
    from tests.netns.conftest import ADDRESSES

    addresses = " && ".join(f"ip addr add {address}/32 dev lo" for address in ADDRESSES)
    inner = f"{sys.executable} -m pytest -q -p no:cacheprovider tests/netns/check_outbound.py"
    # The namespace, holding only loopback, is the guard there. Its loopback is its own: the PostgreSQL of
    # the outer run is not there, so the inner tests keep to SQLite.
    inner_environment = {key: value for key, value in os.environ.items() if key != "ESAP_TEST_DATABASE_URL"}
    inner_environment["ESAP_TEST_NETNS"] = "1"
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && {addresses} && exec {inner}"],
        cwd=ROOT,
        env=inner_environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout and "skipped" not in result.stdout
