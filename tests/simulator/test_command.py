"""`manage.py simulate_cloud_api` starts a real server that answers."""

import socket
import subprocess
import sys
from pathlib import Path

import requests

from .conftest import wait_until

PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str):
    try:
        return requests.get(url, timeout=1).json()
    except requests.ConnectionError:
        return None


def test_management_command_serves_until_terminated():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_cloud_api", "--port", str(port), "--seed", "3", "--no-webhooks"],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stats = wait_until(lambda: _answers(f"http://127.0.0.1:{port}/_sim/stats"), timeout=20, interval=0.05)
        info = requests.get(
            f"http://127.0.0.1:{port}/v25.0/100000000000001",
            headers={"Authorization": "Bearer simulator-access-token"},
            timeout=2,
        ).json()
    finally:
        process.terminate()
        output, errors = process.communicate(timeout=10)

    assert stats["seed"] == 3
    assert info["throughput"] == {"level": "STANDARD"}
    assert process.returncode == 0, errors
    assert b"listening on http://127.0.0.1" in output


def test_help_lists_the_options():
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_cloud_api", "--help"], cwd=PROJECT, capture_output=True, timeout=30
    )

    assert result.returncode == 0
    for option in (b"--callback-url", b"--throughput", b"--pair-rate", b"--reset-share", b"--webhook-batch-max"):
        assert option in result.stdout
    assert b"capacity B" in result.stdout
