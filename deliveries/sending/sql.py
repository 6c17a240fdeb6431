"""Vendor-neutral SQL for the hot paths: bulk UPDATE from a VALUES list, with RETURNING (PostgreSQL, SQLite ≥ 3.35)."""

from collections.abc import Sequence

from django.db import connection


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def values_table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence]) -> tuple[str, list]:
    """`(VALUES …) AS v(col, …)` as a FROM item; `columns` are (name, PostgreSQL type) pairs."""
    params: list = []
    if is_postgresql():
        first = "(" + ", ".join(f"%s::{kind}" for _, kind in columns) + ")"
        rest = "(" + ", ".join("%s" for _ in columns) + ")"
        tuples = [first] + [rest] * (len(rows) - 1)
        for row in rows:
            params.extend(row)
        names = ", ".join(name for name, _ in columns)
        return f"(VALUES {', '.join(tuples)}) AS v({names})", params
    # SQLite names VALUES columns column1, column2…: rename them in a subquery.
    placeholder = "(" + ", ".join("%s" for _ in columns) + ")"
    for row in rows:
        params.extend(row)
    renamed = ", ".join(f"column{i + 1} AS {name}" for i, (name, _) in enumerate(columns))
    # Identifiers come from the callers' constants; every value is a parameter.
    return f"(SELECT {renamed} FROM (VALUES {', '.join([placeholder] * len(rows))})) AS v", params  # noqa: S608


def update_from_values(
    *,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence],
    assignments: str,
    where: str = "",
    where_params: Sequence = (),
    assignment_params: Sequence = (),
    returning: str = "",
) -> list[tuple]:
    """UPDATE `table` AS t SET `assignments` FROM the VALUES `rows` WHERE t.id = v.id [AND `where`].

    The first column must be `id`. Returns the RETURNING rows (empty without `returning`).
    """
    if not rows:
        return []
    source, params = values_table(columns, rows)
    condition = "t.id = v.id" + (f" AND ({where})" if where else "")
    sql = f"UPDATE {table} AS t SET {assignments} FROM {source} WHERE {condition}"  # noqa: S608
    if returning:
        # SQLite's RETURNING sees only the updated table, and not through its alias.
        sql += f" RETURNING {returning if is_postgresql() else returning.replace('t.', '')}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*assignment_params, *params, *where_params])
        return cursor.fetchall() if returning else []
