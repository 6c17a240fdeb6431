"""A throwaway PostgreSQL server for tests and benchmarks: initdb in a temporary folder, a free
loopback port, removed afterwards.

Run as a wrapper: `python tests/postgres_server.py -- pytest …` starts the server, runs the command with
DATABASE_URL pointing at it, then stops and removes it. As root (CI), the server runs as the
unprivileged `postgres` user: initdb refuses root.
"""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """initdb / pg_ctl are not installed, or the server did not start."""


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise PostgresUnavailable(f"{name} not found: install PostgreSQL (apt-get install postgresql)")


@contextlib.contextmanager
def throwaway_postgres(*, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Yields a DATABASE_URL for a fresh server; everything is removed on exit."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="wacampaigns-pg-"))
    data, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    if owner:
        for path in (root, socket_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = _free_loopback_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(socket_dir),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "256MB",
        **(settings or {}),
    }
    try:
        subprocess.run(
            [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"],
            check=True,
            capture_output=True,
        )
        option_args = " ".join(f"-c {key}={value}" for key, value in options.items())
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-o", option_args, "-w", "start"],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as err:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"PostgreSQL did not start: {err.stderr.decode(errors='replace')}{log}") from err
    try:
        _wait_for_port(port)
        subprocess.run(
            [_binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "wacampaigns"],
            check=True,
            capture_output=True,
        )
        yield f"postgres://postgres@127.0.0.1:{port}/wacampaigns"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise PostgresUnavailable(f"PostgreSQL did not accept connections on port {port}")


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python tests/postgres_server.py -- COMMAND [ARGS…]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    try:
        with throwaway_postgres() as database_url:
            # pytest-django creates its own test_… database on this server.
            env = {**os.environ, "DATABASE_URL": database_url}
            return subprocess.call(command, env=env)
    except PostgresUnavailable as err:
        print(f"PostgreSQL unavailable: {err}", file=sys.stderr)
        return 1 if os.environ.get("CI") == "true" or os.environ.get("REQUIRE_POSTGRES") == "true" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
