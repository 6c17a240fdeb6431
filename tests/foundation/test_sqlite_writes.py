"""Write turns on SQLite: a turn excludes the other writers that take one, is released, and is never waited on
for longer than the busy timeout."""

import fcntl
import os

import pytest
from django.db import connection

from wacampaigns.sqlite_writes import sqlite_write_turn


@pytest.fixture
def database_file(tmp_path, monkeypatch):
    name = tmp_path / "db.sqlite3"
    monkeypatch.setattr(connection, "vendor", "sqlite")
    monkeypatch.setitem(connection.settings_dict, "NAME", str(name))
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"timeout": 0.05})
    other = os.open(f"{name}-write-turn", os.O_RDWR | os.O_CREAT)
    yield other
    os.close(other)


def test_a_turn_excludes_another_writer_and_is_released(database_file):
    with sqlite_write_turn(), pytest.raises(BlockingIOError):
        fcntl.flock(database_file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    fcntl.flock(database_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(database_file, fcntl.LOCK_UN)


def test_a_turn_held_elsewhere_is_gone_without_after_the_busy_timeout(database_file):
    fcntl.flock(database_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    entered = []

    with sqlite_write_turn():
        entered.append(True)

    assert entered == [True]
    fcntl.flock(database_file, fcntl.LOCK_UN)


def test_no_turn_file_for_an_in_memory_database(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    monkeypatch.setitem(connection.settings_dict, "NAME", "file:memorydb_default?mode=memory&cache=shared")
    with sqlite_write_turn():
        pass
    assert not list(tmp_path.iterdir())
