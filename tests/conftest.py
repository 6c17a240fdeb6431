"""Fixtures shared by the whole suite."""

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths are local by definition
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkClosedInTests(OSError):
    """A test tried to reach an address outside the loopback range."""


def _guarded(real):
    def connect(sock, address):
        if not _is_loopback(address):
            raise NetworkClosedInTests(f"tests may only reach loopback addresses, not {address!r}")
        return real(sock, address)

    return connect


@pytest.fixture(autouse=True)
def _network_closed_except_loopback(monkeypatch):
    """The network is closed in tests: only loopback (the simulator, test servers) is reachable.

    `responses` intercepts requests before any socket is opened, so client tests are unaffected.
    """
    monkeypatch.setattr(socket.socket, "connect", _guarded(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_real_connect_ex))


@pytest.fixture
def simulator_defaults() -> dict:
    """Configuration of the simulators `start_simulator` starts; a suite's conftest overrides it."""
    return {}


@pytest.fixture
def start_simulator(simulator_defaults):
    """Starts in-process Cloud API simulators on free loopback ports; all are stopped after the test."""
    from wacampaigns.simulator.config import SimulatorConfig
    from wacampaigns.simulator.server import Simulator

    started = []

    def start(**overrides):
        simulator = Simulator(SimulatorConfig(**{**simulator_defaults, "port": 0, **overrides})).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()
