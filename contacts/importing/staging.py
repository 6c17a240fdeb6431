"""Reads a whole file into staging rows: checked, phone numbers normalized (in a process pool), suppressed
numbers refused. Resumable: rows already staged are skipped, so a stopped run continues where it left off.
"""

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice

from django.db import connection
from django.db.models import F, Max

from contacts.importing.reading import Table, table_read
from contacts.importing.rows import CheckedRow, RowOptions, columns_map, row_check
from contacts.models import ContactImport, ContactImportRow
from contacts.phone_numbers import phones_normalize
from contacts.suppression import phones_suppressed

CHUNK_ROWS = 5_000
# Parsing one number costs ~85 µs: below this many rows a pool costs more than it saves.
POOL_MIN_BYTES = 512 * 1024


def _pool_processes(requested: int | None) -> int:
    if multiprocessing.current_process().daemon:
        return 1  # django-q2 workers are daemonic and may not start children
    return max(1, requested if requested is not None else (os.cpu_count() or 1))


def _checked_chunks(table: Table, contact_import: ContactImport, skip_through: int) -> Iterator[list[CheckedRow]]:
    columns = columns_map(table.header)
    options = RowOptions(
        consent_source=contact_import.consent_source,
        tag_names=tuple(name for name in contact_import.tag_names.replace(";", "|").replace(",", "|").split("|")
                        if name.strip()),
        evidence_prefix=f"import {contact_import.pk} ({contact_import.original_name[:120]})",
    )
    rows = (
        row_check(cells, columns, row_number=number, options=options)
        for number, cells in table.rows
        if number > skip_through
    )
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


def _staged(chunk: list[CheckedRow], normalized: list[tuple[str, str]], contact_import: ContactImport, header):
    suppressed = phones_suppressed(phone for phone, _ in normalized)
    staged = []
    phone_column = next((text for text in header if text), "phone")
    for row, (phone, problem) in zip(chunk, normalized, strict=True):
        errors = list(row.errors)
        if problem:
            errors.insert(0, f"row {row.row_number}, column {phone_column!r}: {row.raw_phone!r} {problem}")
        elif phone in suppressed:
            errors.insert(0, f"row {row.row_number}, column {phone_column!r}: {row.raw_phone!r} was erased "
                             "(GDPR) and is on the suppression list: it can never be imported again")
        staged.append(
            ContactImportRow(
                contact_import=contact_import,
                row_number=row.row_number,
                phone=phone if not errors else row.raw_phone[:20],
                name=row.name[:200],
                language=row.language[:15],
                tag_names="|".join(row.tag_names),
                attributes=row.attributes,
                consent_kind=row.consent_kind,
                consent_source=row.consent_source,
                consent_at=row.consent_at,
                consent_evidence=row.consent_evidence,
                error="\n".join(errors),
            )
        )
    return staged


def rows_stage(
    contact_import: ContactImport,
    stream,
    *,
    processes: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> bool:
    """Stages the file's rows; False when `should_stop` cut it short (call again to resume)."""
    table = table_read(stream)
    phone_index = columns_map(table.header).phone
    header_phone = table.header[phone_index]
    skip_through = contact_import.rows.aggregate(last=Max("row_number"))["last"] or 0
    country = contact_import.default_country or None
    size = getattr(stream, "size", None) or os.fstat(stream.fileno()).st_size
    workers = _pool_processes(processes) if size >= POOL_MIN_BYTES else 1
    batch_size = 2_000 if connection.vendor == "postgresql" else None

    def write(chunk, normalized):
        staged = _staged(chunk, normalized, contact_import, [header_phone])
        ContactImportRow.objects.bulk_create(staged, batch_size=batch_size)
        invalid = sum(1 for row in staged if row.error)
        ContactImport.objects.filter(pk=contact_import.pk).update(
            rows_read=F("rows_read") + len(staged),
            rows_valid=F("rows_valid") + len(staged) - invalid,
            rows_invalid=F("rows_invalid") + invalid,
        )

    chunks = _checked_chunks(table, contact_import, skip_through)
    if workers == 1:
        for chunk in chunks:
            write(chunk, phones_normalize([row.raw_phone for row in chunk], country))
            if should_stop():
                return False
        return True
    # A bounded window of chunks in flight keeps memory flat for a million rows.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append((chunk, pool.apply_async(phones_normalize, ([row.raw_phone for row in chunk], country))))
            if len(pending) > workers * 2:
                done, result = pending.popleft()
                write(done, result.get())
                if should_stop():
                    return False
        while pending:
            done, result = pending.popleft()
            write(done, result.get())
    return True


def deadline_after(seconds: float) -> Callable[[], bool]:
    """A `should_stop` for time-boxed background tasks."""
    started = time.monotonic()
    return lambda: time.monotonic() - started > seconds
