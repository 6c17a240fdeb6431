"""Storing the raw row of a signed POST as `pending`: the POSTs of one process that arrive together share one
INSERT and one commit (group commit).

Under a threaded server (gunicorn's gthread workers) the first POST to find no INSERT under way leads: it
stores every row queued by then in one multi-row INSERT, in autocommit, then releases their requests. POSTs
arriving meanwhile queue; when the leader is done, the first of them leads the next group. A request returns
only once its own row is committed, and an INSERT that fails raises in every request of its group (each
answers 500, so Meta redelivers): grouping changes what a statement carries, never what a 200 promises. With
one request per process at a time (sync workers) every group is that one row.

The INSERT skips Django's per-request connection health check (a `SELECT 1` round trip first on
PostgreSQL): a connection the server dropped fails the INSERT itself, which is then run once more on a new
connection. On SQLite it takes its write turn (`wacampaigns.sqlite_writes`) like the drainer's batches, so the
web workers and the drainer queue at the lock instead of sleeping in SQLite's busy handler.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.utils import timezone

from deliveries.models import WebhookEvent, WebhookProcessingState
from wacampaigns.server_binding import server_bound_execute
from wacampaigns.sqlite_writes import sqlite_write_turn

logger = logging.getLogger(__name__)

# Far above the requests one process serves at once (its threads); bounds one statement's parameters.
MAX_GROUP_ROWS = 200
_PENDING_COLUMNS = ("raw_body", "signature_valid", "meta_app", "received_at", "state", "processing_error", "attempts")


class PendingRowNotStored(Exception):
    """The INSERT of the group this request's row was in failed (another request ran it)."""


@dataclass(slots=True, eq=False)
class _QueuedRow:
    """One request's row, waiting for a leader to store it (or to be told to lead)."""

    params: list
    # Only a row queued behind a leader waits: one that leads at once is stored before its request goes on.
    settled: threading.Event | None = None
    leads: bool = False
    stored: bool = False
    error: BaseException | None = None


_queue_lock = threading.Lock()
_queue: list[_QueuedRow] = []
_led = False  # a request is storing a group now; rows queued meanwhile wait for it or its successor


@functools.cache
def _insert_sql(alias: str, rows: int) -> str:
    database = connections[alias]
    quote = database.ops.quote_name
    columns = ", ".join(quote(WebhookEvent._meta.get_field(name).column) for name in _PENDING_COLUMNS)
    values = ", ".join(["(" + ", ".join(["%s"] * len(_PENDING_COLUMNS)) + ")"] * rows)
    return f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608


def _execute(database, sql: str, params: list) -> None:
    """The INSERT on the open (or a new) connection, without the health check `database.cursor()` makes first.

    On PostgreSQL bound on the server: the raw body is not quoted into the statement text, which is prepared.
    """
    database.ensure_connection()
    with sqlite_write_turn():
        if database.vendor == "postgresql":
            server_bound_execute(database, sql, params)
            return
        with database.wrap_database_errors:
            cursor = database.create_cursor()
        wrapped = database.make_debug_cursor(cursor) if database.queries_logged else database.make_cursor(cursor)
        try:
            wrapped.execute(sql, params)
        finally:
            cursor.close()


def _rows_insert(rows: list[_QueuedRow]) -> None:
    """One statement for the group, in autocommit (the ORM's create() costs as much again as an INSERT)."""
    database = connections[DEFAULT_DB_ALIAS]
    sql = _insert_sql(DEFAULT_DB_ALIAS, len(rows))
    params = [value for row in rows for value in row.params]
    try:
        _execute(database, sql, params)
    except (OperationalError, InterfaceError):
        if database.in_atomic_block or database.is_usable():
            raise
        # The server dropped this persistent connection since its last use (a restart, an idle timeout). The
        # INSERT committed nothing, or, its answer lost, rows that a second copy duplicates: the drainer
        # applies duplicates idempotently, as it does Meta's own redeliveries.
        logger.warning("Webhook INSERT on a dropped database connection; retrying on a new one")
        database.close()
        _execute(database, sql, params)


def _lead() -> None:
    """Stores the queued group, settles its rows, and hands the lead to the first row queued meanwhile."""
    global _led
    with _queue_lock:
        group = _queue[:MAX_GROUP_ROWS]
        del _queue[:MAX_GROUP_ROWS]
    failure: Exception | None = PendingRowNotStored("the request storing this group was interrupted")
    try:
        _rows_insert(group)
        failure = None
    # Not hidden: every request of the group raises it (each answers 500 and Meta redelivers).
    except Exception as err:
        failure = err
    finally:
        for row in group:
            row.stored, row.error = failure is None, failure
        with _queue_lock:
            successor = _queue[0] if _queue else None
            if successor is not None:
                successor.leads = True
            else:
                _led = False
        for row in group:
            if row.settled is not None:
                row.settled.set()
        if successor is not None:
            successor.settled.set()


def pending_row_store(*, raw_body: str, meta_app_id: int) -> None:
    """Stores one POST's raw row as pending; returns once it is committed, raises if its INSERT failed."""
    global _led
    database = connections[DEFAULT_DB_ALIAS]
    received_at = database.ops.adapt_datetimefield_value(timezone.now())
    row = _QueuedRow([raw_body, True, meta_app_id, received_at, WebhookProcessingState.PENDING.value, "", 0])
    if database.in_atomic_block:
        # Inside the caller's transaction: the row commits with it, so no other request's row may join.
        _rows_insert([row])
        return
    with _queue_lock:
        _queue.append(row)
        if _led:
            row.settled = threading.Event()
        else:
            row.leads = True
        _led = True
    led = False
    while not (row.stored or row.error):
        if row.leads:
            row.leads, led = False, True
            _lead()
        else:
            row.settled.wait()
            row.settled.clear()
    if row.error is not None:
        if led:
            raise row.error
        raise PendingRowNotStored(f"the group INSERT failed: {row.error}") from row.error
