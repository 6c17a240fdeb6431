"""The life cycle of a contact import: create → stage (preview) → confirm → merge → done, or discard."""

from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from contacts.importing.merging import merge_next_chunk
from contacts.importing.reading import UnreadableTable
from contacts.importing.staging import rows_stage
from contacts.models import ContactImport, ContactImportRow, ContactImportStatus

ERROR_PREVIEW_LIMIT = 200
_CLEANUP_CHUNK = 10_000


class ImportNotAllowed(ValueError):
    """The import is not in a state that allows this step."""


def contact_import_create(
    *,
    file,
    original_name: str,
    default_country: str = "",
    consent_source: str = "",
    tag_names: str = "",
    created_by=None,
) -> ContactImport:
    """Stores the uploaded file; nothing is read yet."""
    contact_import = ContactImport(
        original_name=original_name[:255],
        default_country=(default_country or "").upper(),
        consent_source=consent_source or "",
        tag_names=tag_names or "",
        created_by=created_by,
    )
    contact_import.file.save(Path(original_name).name or "contacts.csv", File(file), save=False)
    contact_import.save()
    return contact_import


def contact_import_stage(
    *,
    contact_import: ContactImport,
    processes: int | None = None,
    should_stop=None,
    timings: dict[str, float] | None = None,
) -> bool:
    """Reads and checks every row into staging; returns False when `should_stop` cut it short (resumable).

    An unreadable file fails the import with a message for the user, never an exception. `timings`, when
    given, receives the seconds spent per phase (see `rows_stage`).
    """
    if contact_import.status not in (ContactImportStatus.UPLOADED, ContactImportStatus.STAGING):
        raise ImportNotAllowed(f"{contact_import} is {contact_import.get_status_display().lower()}")
    ContactImport.objects.filter(pk=contact_import.pk).update(status=ContactImportStatus.STAGING)
    try:
        with contact_import.file.open("rb") as stream:
            finished = rows_stage(
                contact_import,
                stream,
                processes=processes,
                should_stop=should_stop or (lambda: False),
                timings=timings,
            )
    except UnreadableTable as err:
        _rows_delete(contact_import)
        ContactImport.objects.filter(pk=contact_import.pk).update(
            status=ContactImportStatus.FAILED,
            failure=f"The file cannot be imported: {err}.",
            rows_read=0,
            rows_valid=0,
            rows_invalid=0,
            finished_at=timezone.now(),
        )
        contact_import.refresh_from_db()
        return True
    if finished:
        phones = contact_import.rows.filter(error="").values("phone").distinct().count()
        # The staging rows hold everything now: the uploaded copy of personal data goes at once.
        contact_import.file.delete(save=False)
        ContactImport.objects.filter(pk=contact_import.pk).update(
            status=ContactImportStatus.PREVIEW, phones_to_merge=phones, file=""
        )
    contact_import.refresh_from_db()
    return finished


def contact_import_errors(*, contact_import: ContactImport, limit: int | None = ERROR_PREVIEW_LIMIT) -> list[str]:
    """The first row errors (all with limit=None), in file order."""
    messages = contact_import.rows.exclude(error="").order_by("row_number").values_list("error", flat=True)
    if limit is not None:
        messages = messages[:limit]
    return [line for message in messages for line in message.splitlines()]


def contact_import_preview(*, contact_import: ContactImport, limit: int = 20) -> list[ContactImportRow]:
    """The first valid rows, as they will be imported."""
    return list(contact_import.rows.filter(error="").order_by("row_number")[:limit])


def contact_import_duplicates(*, contact_import: ContactImport) -> int:
    """Valid rows that repeat a number already in the file (they are merged into one contact)."""
    return contact_import.rows_valid - contact_import.phones_to_merge


@transaction.atomic
def contact_import_confirm(*, contact_import: ContactImport) -> ContactImport:
    """The user chose to import the valid rows: the merge may start."""
    locked = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
    if locked.status != ContactImportStatus.PREVIEW:
        raise ImportNotAllowed(f"{locked} is {locked.get_status_display().lower()}, not waiting for confirmation")
    if not locked.rows_valid:
        raise ImportNotAllowed(f"{locked} has no valid row to import")
    locked.status = ContactImportStatus.MERGING
    locked.save(update_fields=["status", "updated_at"])
    return locked


def contact_import_merge(*, contact_import: ContactImport, should_stop=None) -> bool:
    """Merges chunk after chunk until done (True) or `should_stop` (False: call again to resume)."""
    while merge_next_chunk(contact_import.pk):
        if should_stop and should_stop():
            contact_import.refresh_from_db()
            return False
    contact_import.refresh_from_db()
    if contact_import.status == ContactImportStatus.DONE:
        contact_import_files_delete(contact_import=contact_import, keep_row_errors=True)
    return contact_import.status == ContactImportStatus.DONE


def contact_import_discard(*, contact_import: ContactImport, keep_row_errors: bool = False) -> None:
    """Imports nothing: the user's choice, or the caller's because some rows had errors.

    With `keep_row_errors` the invalid rows stay, as after a finished import: they are the report of why.
    """
    with transaction.atomic():
        locked = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if locked.status not in (ContactImportStatus.UPLOADED, ContactImportStatus.PREVIEW, ContactImportStatus.FAILED):
            raise ImportNotAllowed(f"{locked} is {locked.get_status_display().lower()}")
        locked.status = ContactImportStatus.DISCARDED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at", "updated_at"])
    contact_import_files_delete(contact_import=locked, keep_row_errors=keep_row_errors)
    contact_import.refresh_from_db()


def contact_import_files_delete(*, contact_import: ContactImport, keep_row_errors: bool = False) -> None:
    """Deletes the stored file and the staging rows (copies of personal data), keeping the counts.

    A finished import keeps its invalid rows: they are the report the user reads.
    """
    if contact_import.file:
        contact_import.file.delete(save=False)
        ContactImport.objects.filter(pk=contact_import.pk).update(file="")
    _rows_delete(contact_import, valid_only=keep_row_errors)


def _rows_delete(contact_import: ContactImport, *, valid_only: bool = False) -> None:
    rows = contact_import.rows.filter(error="") if valid_only else contact_import.rows.all()
    # In windows of row numbers (an index range): one DELETE of a million rows would hold SQLite's write
    # lock for too long.
    numbers = rows.order_by("row_number").values_list("row_number", flat=True)
    while True:
        edge = list(numbers[_CLEANUP_CHUNK - 1 : _CLEANUP_CHUNK])
        if not edge:
            rows.delete()
            return
        rows.filter(row_number__lte=edge[0]).delete()


def contact_import_run(
    *,
    path: str,
    default_country: str = "",
    consent_source: str = "",
    tag_names: str = "",
    import_valid_rows: bool = True,
    processes: int | None = None,
) -> ContactImport:
    """The whole import in this process (the management command and the benchmark).

    When it imports nothing (errors with `import_valid_rows=False`, or no valid row), the row errors stay
    for the caller to print.
    """
    with open(path, "rb") as stream:
        contact_import = contact_import_create(
            file=stream,
            original_name=Path(path).name,
            default_country=default_country,
            consent_source=consent_source,
            tag_names=tag_names,
        )
    contact_import_stage(contact_import=contact_import, processes=processes)
    if contact_import.status != ContactImportStatus.PREVIEW:
        return contact_import
    if (contact_import.rows_invalid and not import_valid_rows) or not contact_import.rows_valid:
        contact_import_discard(contact_import=contact_import, keep_row_errors=True)
        return contact_import
    contact_import_confirm(contact_import=contact_import)
    contact_import_merge(contact_import=contact_import)
    return contact_import
