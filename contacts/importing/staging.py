"""Reads a whole file into staging rows: checked, phone numbers normalized (in a process pool), suppressed
numbers refused. Resumable: rows already staged are skipped, so a stopped run continues where it left off.

The main process only reads the table and writes: checking a row and parsing its number (~50 µs, most of
the cost) run in the pool, which hands back plain tuples that go to the database with COPY (PostgreSQL) or
one executemany (SQLite), each chunk in its own short transaction with the import's counters.
"""

import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from django.db import connection, transaction
from django.db.models import F, Max

from contacts.importing.bulk import db_datetime_adapter, rows_insert
from contacts.importing.reading import Table, table_read
from contacts.importing.rows import ColumnMap, RowOptions, columns_map, row_check
from contacts.models import ContactImport, ContactImportRow, ErasedNumber
from contacts.phone_numbers import phones_normalize
from contacts.suppression import phone_number_hash

CHUNK_ROWS = 5_000
# Parsing one number costs 40 to 85 µs: below this many bytes a pool costs more than it saves.
POOL_MIN_BYTES = 512 * 1024
STAGE_COLUMNS = (
    "contact_import_id",
    "row_number",
    "phone",
    "name",
    "language",
    "tag_names",
    "attributes",
    "consent_kind",
    "consent_source",
    "consent_at",
    "consent_evidence",
    "error",
)
_PHONE, _ERROR, _RAW_PHONE = 1, 10, 11  # positions in a prepared row


_PR_SET_PDEATHSIG = 1


def _pool_processes(requested: int | None) -> int:
    if multiprocessing.current_process().daemon:
        return 1  # a daemonic process may not start children (see Q_CLUSTER's daemonize_workers)
    return max(1, requested if requested is not None else (os.cpu_count() or 1))


def _die_with_parent() -> None:
    """Pool initializer: a worker killed at its task timeout must not leave its pool behind (Linux)."""
    with contextlib.suppress(OSError, AttributeError):  # elsewhere the pool ends with its worker's exit only
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def suppressed_numbers(phones: Iterable[str]) -> set[str]:
    """The numbers on the suppression list, as `contacts.suppression.phones_suppressed` says, for thousands.

    With an empty list (the common case) nothing is hashed; on PostgreSQL the hashes travel as one array
    parameter (thousands of placeholders cost more to bind than the query costs to run).
    """
    if not ErasedNumber.objects.exists():
        return set()
    by_hash = {phone_number_hash(phone): phone for phone in phones if phone}
    if not by_hash:
        return set()
    if connection.vendor != "postgresql":
        found = ErasedNumber.objects.filter(number_hash__in=list(by_hash)).values_list("number_hash", flat=True)
        return {by_hash[number_hash] for number_hash in found}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT number_hash FROM {ErasedNumber._meta.db_table} WHERE number_hash = ANY(%s)",  # noqa: S608
            [list(by_hash)],
        )
        return {by_hash[number_hash] for (number_hash,) in cursor.fetchall()}


def rows_prepare(
    numbered_cells: list[tuple[int, list[str]]], columns: ColumnMap, options: RowOptions, default_country: str | None
) -> tuple[list[tuple], float]:
    """Checks rows and normalizes their numbers (runs in the pool): staging tuples, and the CPU seconds spent.

    A tuple is (row_number, phone, name, language, tag_names, attributes JSON, consent_kind, consent_source,
    consent_at, consent_evidence, error, raw phone).
    """
    started = time.process_time()
    checked = [row_check(cells, columns, row_number=number, options=options) for number, cells in numbered_cells]
    normalized = phones_normalize([row.raw_phone for row in checked], default_country)
    phone_column = columns.header[columns.phone]
    prepared = []
    for row, (phone, problem) in zip(checked, normalized, strict=True):
        errors = row.errors
        if problem:
            errors.insert(0, f"row {row.row_number}, column {phone_column!r}: {row.raw_phone!r} {problem}")
        prepared.append(
            (
                row.row_number,
                phone if not errors else row.raw_phone[:20],
                row.name[:200],
                row.language[:15],
                "|".join(row.tag_names),
                json.dumps(row.attributes, ensure_ascii=False),
                row.consent_kind,
                row.consent_source,
                row.consent_at,
                row.consent_evidence,
                "\n".join(errors),
                row.raw_phone,
            )
        )
    return prepared, time.process_time() - started


def _options(contact_import: ContactImport) -> RowOptions:
    return RowOptions(
        consent_source=contact_import.consent_source,
        tag_names=tuple(
            name for name in contact_import.tag_names.replace(";", "|").replace(",", "|").split("|") if name.strip()
        ),
        evidence_prefix=f"import {contact_import.pk} ({contact_import.original_name[:120]})",
    )


def _chunks(table: Table, skip_through: int) -> Iterator[list[tuple[int, list[str]]]]:
    rows = ((number, cells) for number, cells in table.rows if number > skip_through)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


def _write(contact_import: ContactImport, prepared: list[tuple], phone_column: str) -> None:
    """One chunk and the import's counters, in one short transaction."""
    suppressed = suppressed_numbers(row[_PHONE] for row in prepared if not row[_ERROR])
    import_id, invalid, out, db_datetime = contact_import.pk, 0, [], db_datetime_adapter()
    for row in prepared:
        if not row[_ERROR] and row[_PHONE] in suppressed:
            error = (
                f"row {row[0]}, column {phone_column!r}: {row[_RAW_PHONE]!r} was erased (GDPR) and is on "
                "the suppression list: it can never be imported again"
            )
            row = (row[0], row[_RAW_PHONE][:20], *row[2:_ERROR], error)
        if row[_ERROR]:
            invalid += 1
        out.append((import_id, *row[:8], db_datetime(row[8]), row[9], row[_ERROR]))
    with transaction.atomic(), connection.cursor() as cursor:
        rows_insert(cursor, ContactImportRow._meta.db_table, STAGE_COLUMNS, out)
        ContactImport.objects.filter(pk=import_id).update(
            rows_read=F("rows_read") + len(out),
            rows_valid=F("rows_valid") + len(out) - invalid,
            rows_invalid=F("rows_invalid") + invalid,
        )


def rows_stage(
    contact_import: ContactImport,
    stream,
    *,
    processes: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    timings: dict[str, float] | None = None,
) -> bool:
    """Stages the file's rows; False when `should_stop` cut it short (call again to resume).

    `timings`, when given, adds up seconds: "read" (the table, in this process), "check" (waiting for the
    checked rows), "check_cpu" (the CPU spent checking and parsing numbers, in every process) and "write".
    """
    timings = timings if timings is not None else {}
    for key in ("read", "check", "check_cpu", "write"):
        timings.setdefault(key, 0.0)
    table = table_read(stream)
    columns = columns_map(table.header)
    phone_column = table.header[columns.phone]
    skip_through = contact_import.rows.aggregate(last=Max("row_number"))["last"] or 0
    country = contact_import.default_country or None
    options = _options(contact_import)
    size = getattr(stream, "size", None) or os.fstat(stream.fileno()).st_size
    workers = _pool_processes(processes) if size >= POOL_MIN_BYTES else 1

    def chunks():
        source = _chunks(table, skip_through)
        while True:
            started = time.perf_counter()
            chunk = next(source, None)
            timings["read"] += time.perf_counter() - started
            if chunk is None:
                return
            yield chunk

    def write(result) -> None:
        started = time.perf_counter()
        prepared, cpu = result.get() if workers > 1 else result
        timings["check"] += time.perf_counter() - started
        timings["check_cpu"] += cpu
        started = time.perf_counter()
        _write(contact_import, prepared, phone_column)
        timings["write"] += time.perf_counter() - started

    if workers == 1:
        for chunk in chunks():
            started = time.perf_counter()
            result = rows_prepare(chunk, columns, options, country)
            timings["check"] += time.perf_counter() - started
            write(result)
            if should_stop():
                return False
        return True
    # A bounded window of chunks in flight keeps memory flat for a million rows. Forked children never
    # touch the database: they only check rows.
    with multiprocessing.get_context("fork").Pool(workers, initializer=_die_with_parent) as pool:
        pending: deque = deque()
        for chunk in chunks():
            pending.append(pool.apply_async(rows_prepare, (chunk, columns, options, country)))
            if len(pending) > workers * 2:
                write(pending.popleft())
                if should_stop():
                    return False
        while pending:
            write(pending.popleft())
    return True


def deadline_after(seconds: float) -> Callable[[], bool]:
    """A `should_stop` for time-boxed background tasks."""
    started = time.monotonic()
    return lambda: time.monotonic() - started > seconds
