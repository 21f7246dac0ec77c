"""The outbound guard's tests that name public addresses: they run only in a network with nothing but loopback.

tests/test_outbound.py starts them in a private network namespace (``unshare -n``) whose
only interface, ``lo``, also carries the "public" addresses below: servers listen there,
and whatever a wrong guard did, no packet could leave the machine.
"""

import subprocess

import pytest

PUBLIC = "93.184.216.34"  # globally routable, so the guard lets it through: here it is a local address
REGISTERED = "93.184.215.14"  # a public address users register facilities at (nothing listens there)
INTERNAL = ("10.0.0.1", "100.64.0.1", "169.254.169.254")  # private, shared (CGNAT), link-local (cloud metadata)
ADDRESSES = (PUBLIC, REGISTERED, *INTERNAL)


@pytest.fixture(autouse=True, scope="session")
def only_loopback():
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout.splitlines()
    names = [line.split(":")[1].strip() for line in links]
    if names != ["lo"]:
        pytest.exit(f"tests/netns must run in a network namespace with only loopback, not with {names}", returncode=3)
