"""The admin flows through the Django test client: upload → preview → confirm or discard; background
import with progress; export and GDPR actions."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from contacts import admin as contacts_admin
from contacts.models import Contact, ContactImport, ContactImportStatus, MarketingConsent
from contacts.services import contact_create
from contacts.suppression import phone_is_suppressed

pytestmark = pytest.mark.django_db

CSV = b"phone;name;opted_in\n+34 612 345 678;Ana;yes\n612345679;Bob;no\nnot a number;Eve;yes\n+34612345678;Ana B;\n"


def _upload(client, content=CSV, name="list.csv"):
    return client.post(
        reverse("admin:contacts_contactimport_add"),
        {"file": SimpleUploadedFile(name, content), "default_country": "es", "consent_source": "", "tag_names": "fair"},
    )


def test_upload_preview_then_import_the_valid_rows(admin_client):
    response = _upload(admin_client)
    contact_import = ContactImport.objects.get()
    assert response.status_code == 302
    page = admin_client.get(response["Location"]).content.decode()

    assert contact_import.status == ContactImportStatus.PREVIEW
    assert "row 4, column &#x27;phone&#x27;: &#x27;not a number&#x27; is not a phone number" in page
    assert "Import the 3 valid rows" in page
    assert "1 duplicate rows merged" in page
    assert Contact.objects.count() == 0  # nothing visible before the user chooses

    admin_client.post(reverse("admin:contacts_contactimport_confirm", args=[contact_import.pk]))

    contact_import.refresh_from_db()
    assert contact_import.status == ContactImportStatus.DONE
    contacts = {c.phone: c for c in Contact.objects.all()}
    assert set(contacts) == {"+34612345678", "+34612345679"}
    assert contacts["+34612345678"].name == "Ana B"
    assert contacts["+34612345678"].marketing_consent == MarketingConsent.OPTED_IN
    assert contacts["+34612345679"].marketing_consent == MarketingConsent.OPTED_OUT
    assert list(contacts["+34612345679"].tags.values_list("name", flat=True)) == ["fair"]
    assert contact_import.created_by is not None


def test_upload_preview_then_import_nothing(admin_client):
    _upload(admin_client)
    contact_import = ContactImport.objects.get()
    admin_client.post(reverse("admin:contacts_contactimport_discard", args=[contact_import.pk]))

    contact_import.refresh_from_db()
    assert contact_import.status == ContactImportStatus.DISCARDED
    assert Contact.objects.count() == 0
    assert contact_import.rows.count() == 0


def test_a_binary_file_gets_a_clear_message(admin_client):
    response = _upload(admin_client, bytes(range(256)) * 10, "photo.csv")
    page = admin_client.get(response["Location"])

    assert page.status_code == 200
    assert "not a text table" in page.content.decode()
    assert ContactImport.objects.get().status == ContactImportStatus.FAILED


def _run_queued_tasks() -> int:
    ran = 0
    while queued := OrmQ.objects.order_by("id").first():
        task = SignedPackage.loads(queued.payload)
        queued.delete()
        import_string(task["func"])(*task["args"], **task["kwargs"])
        ran += 1
    return ran


def test_large_files_run_in_the_background_with_progress(admin_client, monkeypatch):
    monkeypatch.setattr(contacts_admin, "INLINE_MAX_BYTES", 0)
    monkeypatch.setattr(contacts_admin, "INLINE_MAX_PHONES", 0)
    lines = "".join(f"+3461234{n:04d},n{n}\n" for n in range(300))
    response = _upload(admin_client, f"phone,name\n{lines}".encode())
    contact_import = ContactImport.objects.get()
    page = admin_client.get(response["Location"]).content.decode()
    assert contact_import.status == ContactImportStatus.UPLOADED
    assert 'http-equiv="refresh"' in page

    assert _run_queued_tasks() == 1
    admin_client.post(reverse("admin:contacts_contactimport_confirm", args=[contact_import.pk]))
    assert "<progress" in admin_client.get(response["Location"]).content.decode()
    assert _run_queued_tasks() == 1

    contact_import.refresh_from_db()
    assert contact_import.status == ContactImportStatus.DONE
    assert contact_import.phones_merged == 300
    assert Contact.objects.count() == 300


def test_export_and_gdpr_actions(admin_client):
    contact = contact_create(phone="+34612345678", name="Ana")
    changelist = reverse("admin:contacts_contact_changelist")

    csv_response = admin_client.post(changelist, {"action": "export_csv", "_selected_action": [contact.pk]})
    assert b"'+34612345678" in csv_response.content
    gdpr = admin_client.post(changelist, {"action": "gdpr_export", "_selected_action": [contact.pk]})
    document = json.loads(gdpr.content)
    assert document["profile"]["phone"] == "+34612345678"
    assert {"deliveries", "inbound_messages", "webhook_events"} <= set(document)

    admin_client.post(changelist, {"action": "gdpr_erase", "_selected_action": [contact.pk]})
    assert not Contact.objects.exists()
    assert phone_is_suppressed("+34612345678")
