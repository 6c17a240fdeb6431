"""Starting the product's real processes for end-to-end tests: free loopback ports, polling with deadlines."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1):
    """Polls `condition` until it returns something truthy; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (OSError, requests.RequestException) as err:
            last_error = err
        else:
            if result:
                return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def http_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MANAGE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True
    )


def start(*args: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Starts `manage.py ARGS` in its own process group, output to `log_path`."""
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, MANAGE, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Signals the whole process group and waits; SIGKILL if it does not stop in time."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
