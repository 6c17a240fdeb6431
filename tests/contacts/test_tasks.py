"""Background import tasks: the normalization pool works inside a django-q2 worker."""

import io
import multiprocessing

import pytest
from django_q.conf import Conf

from contacts.importing import staging
from contacts.importing.services import contact_import_create
from contacts.models import Contact, ContactImportStatus
from contacts.phone_numbers import phones_normalize
from contacts.tasks import contact_import_merge_task, contact_import_stage_task


def _normalize_in_a_pool(results) -> None:
    try:
        with multiprocessing.get_context("fork").Pool(2, initializer=staging._die_with_parent) as pool:
            results.put((staging._pool_processes(2), pool.apply(phones_normalize, (["612 34 56 78"], "ES"))))
    except AssertionError as err:  # "daemonic processes are not allowed to have children"
        results.put((0, str(err)))


def test_a_process_started_like_a_django_q2_worker_can_run_the_normalization_pool():
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    # django-q2's Sentinel.spawn_process starts its workers with exactly this daemon flag.
    worker = context.Process(target=_normalize_in_a_pool, args=(results,), daemon=Conf.DAEMONIZE_WORKERS)
    worker.start()
    outcome = results.get(timeout=60)
    worker.join(timeout=60)

    assert outcome == (2, [("+34612345678", "")])


@pytest.mark.django_db
def test_the_tasks_stage_then_merge_a_file(monkeypatch):
    monkeypatch.setattr(staging, "POOL_MIN_BYTES", 0)
    lines = "".join(f"+3461234{n:04d},n{n}\n" for n in range(300))
    contact_import = contact_import_create(file=io.BytesIO(f"phone,name\n{lines}".encode()), original_name="t.csv")
    contact_import_stage_task(contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImportStatus.PREVIEW
    contact_import.status = ContactImportStatus.MERGING
    contact_import.save(update_fields=["status"])
    contact_import_merge_task(contact_import.pk)

    contact_import.refresh_from_db()
    assert contact_import.status == ContactImportStatus.DONE
    assert Contact.objects.count() == 300
