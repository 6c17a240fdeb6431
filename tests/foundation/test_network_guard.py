import socket

import pytest

from tests.conftest import NetworkClosedInTests


def test_non_loopback_connections_are_refused():
    with socket.socket() as sock, pytest.raises(NetworkClosedInTests):
        sock.connect(("192.0.2.1", 443))


def test_loopback_connections_are_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2) as client:
            accepted, _ = server.accept()
            accepted.close()
            assert client.getpeername() == server.getsockname()
