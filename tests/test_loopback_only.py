"""The test process cannot leave this machine (tests/loopback_only.py), and loopback still works."""

import socket

import pytest

from tests.loopback_only import LeftLoopback, is_loopback


def test_a_connection_off_this_machine_fails_before_any_packet_is_sent():
    with socket.socket() as probe, pytest.raises(LeftLoopback, match="192.0.2.1:80, off this machine"):
        probe.connect(("192.0.2.1", 80))  # TEST-NET-1: nothing is sent, the guard refuses first
    with socket.socket(socket.AF_INET6) as probe:
        assert pytest.raises(LeftLoopback, probe.connect_ex, ("2001:db8::1", 443, 0, 0))


def test_a_public_name_is_not_even_looked_up():
    with pytest.raises(LeftLoopback, match="'zenodo.org'"):
        socket.getaddrinfo("zenodo.org", 443)


def test_loopback_connections_and_names_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=5):
            pass
    assert all(is_loopback(host) for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.8.9.10", "0.0.0.0"))
    assert not any(is_loopback(host) for host in ("10.0.0.1", "93.184.216.34", "example.org", "::ffff:8.8.8.8"))
