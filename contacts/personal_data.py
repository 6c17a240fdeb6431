"""GDPR: everything held about a contact, exported as one document or erased, across every app.

Contacts sits at the bottom of the dependency graph, yet a contact's personal data also lives in apps
above it (deliveries, webhook events, inbound messages). Those apps register a `PersonalDataHolder` from
a module named `personal_data` that `ContactsConfig.ready()` discovers, the way the admin discovers
`admin` modules: contacts orchestrates export and erase without importing any app above it, and a new
app that stores personal data adds one holder and nothing else changes.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import or_

import phonenumbers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import BadSignature, SignedPackage

from contacts.importing.reading import UnreadableTable, table_read
from contacts.models import Contact, ContactImport, ContactImportRow, ContactImportStatus, ErasedNumber
from contacts.suppression import phone_number_hash


@dataclass(frozen=True)
class PersonalDataHolder:
    """Where one app keeps personal data about contacts."""

    name: str
    export: Callable[[Contact], object]  # JSON-serializable
    erase: Callable[[Contact], int]  # records erased or redacted; runs before the contact row is deleted


_holders: dict[str, PersonalDataHolder] = {}


def personal_data_holder_register(holder: PersonalDataHolder) -> None:
    _holders[holder.name] = holder


def personal_data_holders() -> list[PersonalDataHolder]:
    return list(_holders.values())


def contact_identifiers(contact: Contact) -> list[str]:
    """Strings that name the contact in raw payloads: E.164, the digits Meta uses as wa_id, BSUID."""
    found = [contact.phone, contact.phone and contact.phone.lstrip("+"), contact.wa_id, contact.business_user_id]
    return list(dict.fromkeys(value for value in found if value))


def text_redact(text: str, contact: Contact, *, names: tuple[str, ...] = (), replacement: str = "[erased]") -> str:
    """Removes the contact's identifiers (whole numbers only, never part of a longer one) and names."""
    for identifier in sorted(contact_identifiers(contact), key=len, reverse=True):
        text = re.sub(rf"(?<![\w+]){re.escape(identifier)}(?!\w)", replacement, text)
    for name in (contact.name, contact.username, *names):
        if name and len(name) >= 3:
            text = text.replace(name, replacement)
    return text


def text_names_contact(text: str, contact: Contact) -> bool:
    return text_redact(text, contact) != text


# --- What contacts itself holds -------------------------------------------------------------------


def _profile(contact: Contact) -> dict:
    return {
        "id": contact.pk,
        "phone": contact.phone,
        "wa_id": contact.wa_id,
        "business_user_id": contact.business_user_id,
        "username": contact.username,
        "name": contact.name,
        "language": contact.language,
        "attributes": contact.attributes,
        "tags": list(contact.tags.values_list("name", flat=True)),
        "marketing_consent": contact.marketing_consent,
        "marketing_consent_source": contact.marketing_consent_source,
        "marketing_consent_at": contact.marketing_consent_at,
        "opted_out_of_all_at": contact.opted_out_of_all_at,
        "opted_out_of_all_source": contact.opted_out_of_all_source,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def _import_rows(contact: Contact):
    return ContactImportRow.objects.filter(phone=contact.phone) if contact.phone else ContactImportRow.objects.none()


def _stored_import_files_naming(contact: Contact) -> list[ContactImport]:
    """Imports still holding their uploaded file (files are deleted once staged) that mention the number."""
    if not contact.phone:
        return []
    national = str(phonenumbers.parse(contact.phone).national_number)
    naming = []
    for contact_import in ContactImport.objects.exclude(file=""):
        try:
            with contact_import.file.open("rb") as stream:
                table = table_read(stream)
                for _, cells in table.rows:
                    if national in re.sub(r"\D", "", "".join(cells)):
                        naming.append(contact_import)
                        break
        except (UnreadableTable, OSError):
            naming.append(contact_import)  # cannot tell: an unreadable file is removed to be safe
    return naming


def _task_payload_names(values, contact: Contact) -> bool:
    return text_names_contact(repr(values), contact)


def _tasks_erase(contact: Contact) -> int:
    """django-q2 queued tasks (ORM broker), task results and schedules whose arguments name the contact."""
    erased = 0
    for queued in OrmQ.objects.all():
        try:
            package = SignedPackage.loads(queued.payload)
        except (BadSignature, ValueError, TypeError):
            continue
        if _task_payload_names((package.get("args"), package.get("kwargs")), contact):
            queued.delete()
            erased += 1
    for task in Task.objects.all().only("id", "args", "kwargs", "result"):
        if _task_payload_names((task.args, task.kwargs, task.result), contact):
            task.delete()
            erased += 1
    for schedule in Schedule.objects.all():
        if _task_payload_names((schedule.args, schedule.kwargs), contact):
            schedule.delete()
            erased += 1
    return erased


def contact_personal_data_export(*, contact: Contact) -> dict:
    """One JSON-serializable document with everything held about the contact, in every app."""
    document = {
        "exported_at": timezone.now(),
        "profile": _profile(contact),
        "consent_history": list(
            contact.consent_events.order_by("occurred_at", "id").values(
                "kind", "scope", "source", "occurred_at", "evidence", "recorded_at"
            )
        ),
        "import_rows": list(
            _import_rows(contact).values(
                "contact_import_id",
                "row_number",
                "name",
                "language",
                "tag_names",
                "attributes",
                "consent_kind",
                "consent_at",
                "error",
            )
        ),
    }
    for holder in personal_data_holders():
        document[holder.name] = holder.export(contact)
    # A round trip through JSON: what the caller gets is exactly what the file will hold.
    return json.loads(json.dumps(document, cls=DjangoJSONEncoder))


@transaction.atomic
def contact_erase(*, contact: Contact, erased_by=None) -> dict[str, int]:
    """Erases the contact's personal data everywhere and puts its numbers on the suppression list.

    Counts of what was erased, by place. Delivery rows stay (without contact, recipient and parameters)
    so that campaign counts stay right.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    counts = {holder.name: holder.erase(contact) for holder in personal_data_holders()}
    counts["import_rows"] = _import_rows(contact).delete()[0]
    files = _stored_import_files_naming(contact)
    for contact_import in files:
        contact_import.file.delete(save=False)
        contact_import.rows.all().delete()
        ContactImport.objects.filter(pk=contact_import.pk).update(
            file="",
            status=ContactImportStatus.FAILED,
            finished_at=timezone.now(),
            failure="The file was removed because it named a contact whose data was erased (GDPR); upload it again.",
        )
    counts["import_files"] = len(files)
    counts["background_tasks"] = _tasks_erase(contact)
    numbers = {contact.phone, contact.wa_id and "+" + contact.wa_id.lstrip("+")} - {None, ""}
    for number in numbers:
        ErasedNumber.objects.get_or_create(number_hash=phone_number_hash(number), defaults={"erased_by": erased_by})
    counts["suppressed_numbers"] = len(numbers)
    contact.delete()
    counts["contact"] = 1
    return counts


def identifiers_filter(contact: Contact, *fields: str) -> Q:
    """Any of `fields` contains one of the contact's identifiers (a prefilter for `text_names_contact`)."""
    conditions = [Q(**{f"{field}__contains": value}) for field in fields for value in contact_identifiers(contact)]
    return reduce(or_, conditions, Q(pk__in=[]))
