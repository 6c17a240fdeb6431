"""django-q2 entry points for contact imports: time-boxed, they re-enqueue themselves while work remains."""

from django.conf import settings
from django_q.tasks import async_task

from contacts.importing.services import contact_import_merge, contact_import_stage
from contacts.importing.staging import deadline_after
from contacts.models import ContactImport, ContactImportStatus


def _budget_seconds() -> float:
    # Well under the task timeout (design.md §7): a task still running at `retry` would be handed out again.
    return settings.Q_TASK_TIMEOUT_SECONDS / 2


def contact_import_stage_enqueue(contact_import: ContactImport) -> None:
    async_task(
        "contacts.tasks.contact_import_stage_task", contact_import.pk, task_name=f"import-{contact_import.pk}-stage"
    )


def contact_import_merge_enqueue(contact_import: ContactImport) -> None:
    async_task(
        "contacts.tasks.contact_import_merge_task", contact_import.pk, task_name=f"import-{contact_import.pk}-merge"
    )


def contact_import_stage_task(contact_import_id: int) -> None:
    contact_import = ContactImport.objects.get(pk=contact_import_id)
    if contact_import.status not in (ContactImportStatus.UPLOADED, ContactImportStatus.STAGING):
        return
    if not contact_import_stage(contact_import=contact_import, should_stop=deadline_after(_budget_seconds())):
        contact_import_stage_enqueue(contact_import)


def contact_import_merge_task(contact_import_id: int) -> None:
    contact_import = ContactImport.objects.get(pk=contact_import_id)
    if contact_import.status != ContactImportStatus.MERGING:
        return
    if not contact_import_merge(contact_import=contact_import, should_stop=deadline_after(_budget_seconds())):
        contact_import_merge_enqueue(contact_import)
