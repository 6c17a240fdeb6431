"""Set-based writes of plain tuples for the import: COPY on PostgreSQL, one executemany on SQLite.

Model instances cost more than the database does at a hundred thousand rows, so staging and merging hand
tuples straight to the driver. Datetimes must be aware; everything else is a str, int, None or JSON text.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime


def _as_is(value):
    return value


def db_datetime_adapter() -> Callable[[datetime | None], object]:
    """How datetimes go to the driver: as they are on PostgreSQL, naive UTC text on SQLite.

    Looked up once per chunk: the connection proxy costs more than the conversion, row after row.
    """
    if connection.vendor == "postgresql":
        return _as_is
    return _sqlite_datetime


def _sqlite_datetime(value: datetime | None) -> str | None:
    # As Django's SQLite backend stores it with USE_TZ: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return None if value is None else str(value.astimezone(UTC).replace(tzinfo=None))


def aware(value) -> datetime | None:
    """A datetime read by a raw cursor (aware on PostgreSQL, naive UTC or text on SQLite) → aware."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rows_insert(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Inserts rows into `table` (names are our own constants, never user input)."""
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join(["%s"] * len(columns))
    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)  # noqa: S608


def temp_table_create(cursor, table: str, columns: str) -> None:
    """An empty scratch table for this transaction (dropped at commit on PostgreSQL, kept empty on SQLite).

    Emptied rather than assumed new: several chunks may share one outer transaction (tests, callers' atomic).
    """
    on_commit = " ON COMMIT DROP" if connection.vendor == "postgresql" else ""
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} ({columns}){on_commit}")
    cursor.execute(f"DELETE FROM {table}")  # noqa: S608
