"""Requests counted per minute for rate limits, shared by every process: Redis's INCR, or one upsert per count."""

from functools import cache as memoized

from django.core.cache import cache
from django.db import connection, models


def minute_count_in_cache(counter: str, *, timeout: int) -> int:
    """Adds one to `counter` (a key naming its minute) and returns the count; atomic on Redis."""
    # incr first: the counter exists for all but the first request of a minute, and a failed add costs a write.
    try:
        return cache.incr(counter)
    except ValueError:  # the minute's first request (or another request's add won the race: count on it)
        return 1 if cache.add(counter, 1, timeout=timeout) else cache.incr(counter)


@memoized
def _upsert_sql(model: type[models.Model], key_columns: tuple[str, ...]) -> str:
    table = model._meta.db_table
    columns = ", ".join(f'"{name}"' for name in (*key_columns, "minute"))
    placeholders = ", ".join(["%s"] * (len(key_columns) + 1))
    # One statement, atomic on both databases (ON CONFLICT … RETURNING: PostgreSQL ≥ 9.5, SQLite ≥ 3.35).
    return (
        f'INSERT INTO "{table}" ({columns}, "count") VALUES ({placeholders}, 1) '  # noqa: S608
        f'ON CONFLICT ({columns}) DO UPDATE SET "count" = "{table}"."count" + 1 RETURNING "count"'
    )


def minute_count_in_table(model: type[models.Model], *, minute: int, **key) -> int:
    """Adds one to the row of `key` and `minute` (its model has a unique constraint on them) and returns the count."""
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(model, tuple(key)), [*key.values(), minute])
        (count,) = cursor.fetchone()
    return count
