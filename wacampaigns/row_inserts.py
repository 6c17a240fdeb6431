"""One new model row INSERTed in plain SQL: the rows every API send writes (contact, delivery, idempotency record).

Building the ORM's INSERT (and reaching the connection through `django.db.connection`'s per-context lookup for
every field's value) cost several times running the statement on SQLite; here the statement is built once per
model. What `Model.objects.create` does otherwise: each field's `pre_save` (auto_now, defaults), the primary key
from RETURNING, the instance marked saved. No model signals are sent: none is connected for these models.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model


@functools.cache
def _insert_statement(model: type[Model], alias: str, unless_taken: str | None) -> tuple[str, tuple[Field, ...]]:
    quote = connections[alias].ops.quote_name
    fields = tuple(field for field in model._meta.concrete_fields if not field.primary_key)
    only_in_database = [field.name for field in fields if field.has_db_default() and not field.has_default()]
    if only_in_database:
        raise ValueError(f"{model.__name__}: {only_in_database} have no value before the INSERT; use the ORM.")
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict = f" ON CONFLICT ({quote(model._meta.get_field(unless_taken).column)}) DO NOTHING" if unless_taken else ""
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}){conflict} "  # noqa: S608
        f"RETURNING {quote(model._meta.pk.column)}",
        fields,
    )


def row_insert(instance: Model, *, unless_taken: str | None = None, using: str = DEFAULT_DB_ALIAS) -> bool:
    """INSERTs the unsaved instance (its primary key generated) and sets the key; returns True.

    With `unless_taken` (a unique field's name) a row already holding that value is left alone (ON CONFLICT DO
    NOTHING) and False is returned, the instance still unsaved.
    """
    model = type(instance)
    sql, fields = _insert_statement(model, using, unless_taken)
    database = connections[using]
    values = [field.get_db_prep_save(field.pre_save(instance, add=True), database) for field in fields]
    with database.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = using
    return True
