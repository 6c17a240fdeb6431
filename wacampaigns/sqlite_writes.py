"""Turns at SQLite's write lock for the writes every API request makes (its rate-limit count, a send's rows).

SQLite's busy handler sleeps 1, 2, 5, 10 ms… between retries, so with two web workers writing on every request a
waiting worker often sleeps on long after the lock was freed (a quarter of the two cores sat idle in the send
phase of bench/api_send.py). A writer that takes its turn first waits on a file lock next to the database instead,
polled every POLL_SECONDS. The turn only orders the writers that take it: SQLite's own lock still makes every
write safe, and a turn not had within the busy timeout is gone without (no process ever waits on it for longer).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

POLL_SECONDS = 0.0002

_local = threading.local()


def _turn_file(database) -> int | None:
    """This thread's descriptor of the turn file (flock excludes other descriptors, so one per thread)."""
    name = str(database.settings_dict.get("NAME") or "")
    if not name or ":memory:" in name or "mode=memory" in name:
        return None
    if getattr(_local, "name", None) != name:
        if getattr(_local, "fd", None) is not None:
            os.close(_local.fd)
        _local.fd, _local.name = os.open(f"{name}-write-turn", os.O_RDWR | os.O_CREAT, 0o600), name
    return _local.fd


@contextmanager
def sqlite_write_turn() -> Iterator[None]:
    """Around a short write transaction on SQLite (nothing elsewhere, nor inside an open transaction)."""
    # One look-up of the thread's connection (each attribute read through `django.db.connection` is one).
    database = connections[DEFAULT_DB_ALIAS]
    fd = None if database.vendor != "sqlite" or database.in_atomic_block else _turn_file(database)
    held = False
    if fd is not None:
        deadline = time.monotonic() + float(database.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        while not held:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
