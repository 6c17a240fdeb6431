"""Contact services of the integration API: phone numbers from URLs, upsert, opt-out, consent, and the read model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact, MarketingConsent, Tag
from contacts.phone_numbers import InvalidPhoneNumber as PhoneNumberInvalid
from contacts.phone_numbers import phone_normalize
from contacts.services import contact_consent_record
from contacts.suppression import phone_is_suppressed
from deliveries.api.errors import ConsentRefused, ContactNotFound, InvalidPhoneNumber, PhoneNumberSuppressed
from deliveries.api.models import ApiKey
from wacampaigns.row_inserts import row_insert


@dataclass(frozen=True)
class ConsentInput:
    kind: str
    scope: str
    occurred_at: datetime | None
    evidence: str


def api_phone_normalize(raw: str) -> str:
    """An E.164 number from a request ('+34612345678' or '34612345678'); raises InvalidPhoneNumber."""
    text = (raw or "").strip()
    if text and not text.startswith(("+", "00")):
        text = "+" + text
    try:
        return phone_normalize(text)
    except PhoneNumberInvalid as err:
        raise InvalidPhoneNumber(
            f"{raw!r} {err.problem}: send an international number with its country code, e.g. +34612345678.",
            details={"phone": raw},
        ) from err


def api_phone_check_not_suppressed(phone: str) -> None:
    """Raises PhoneNumberSuppressed for an erased number: it is never stored or messaged again."""
    if phone_is_suppressed(phone):
        raise PhoneNumberSuppressed(
            "This number's owner had their data erased: it may not be stored or messaged again.",
            details={"phone": phone},
        )


def api_phone(raw: str) -> str:
    """An E.164 number from a request; raises InvalidPhoneNumber or PhoneNumberSuppressed."""
    phone = api_phone_normalize(raw)
    api_phone_check_not_suppressed(phone)
    return phone


def _contact_locked(phone: str) -> Contact | None:
    """The contact with this number, locked on PostgreSQL (on SQLite the write transaction excludes other writers).

    A raw query: every API send makes it, and building the ORM's SELECT of every column cost four times running it.
    """
    table = connection.ops.quote_name(Contact._meta.db_table)
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    return next(iter(Contact.objects.raw(f"SELECT * FROM {table} WHERE phone = %s{lock}", [phone])), None)  # noqa: S608


def _contact_insert(phone: str) -> Contact | None:
    """A new contact with this number and every other field's default; None when the number is taken.

    ON CONFLICT DO NOTHING instead of a savepoint around an INSERT that may fail: two statements fewer per new
    contact of an API send.
    """
    contact = Contact(phone=phone)
    return contact if row_insert(contact, unless_taken="phone") else None


def _contact_for_update(phone: str) -> tuple[Contact, bool]:
    """The contact with this number, locked, created if absent (a concurrent create is read, locked, instead)."""
    contact = _contact_locked(phone)
    if contact is not None:
        return contact, False
    created = _contact_insert(phone)
    if created is not None:
        return created, True
    return _contact_locked(phone), False


def contact_upsert_from_api(
    *,
    phone: str,
    name: str | None = None,
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
    merge_attributes: bool = False,
) -> tuple[Contact, bool]:
    """Creates or updates the contact with this E.164 number (fields left None are kept); must run in a transaction."""
    contact, created = _contact_for_update(phone)
    changed = []
    if name is not None and contact.name != name:
        contact.name, changed = name, [*changed, "name"]
    if language is not None and contact.language != language:
        contact.language, changed = language, [*changed, "language"]
    if attributes is not None:
        new = {**(contact.attributes or {}), **attributes} if merge_attributes else dict(attributes)
        if new != contact.attributes:
            contact.attributes, changed = new, [*changed, "attributes"]
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return contact, created


def _tags_set(contact: Contact, names: list[str]) -> None:
    tags = []
    for name in dict.fromkeys(names):
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name=name)
            except IntegrityError:
                tag = Tag.objects.get(name__iexact=name)
        tags.append(tag)
    contact.tags.set(tags)


def _consent_record(*, contact: Contact, consent: ConsentInput, api_key: ApiKey) -> None:
    kind = ConsentKind(consent.kind)
    if kind == ConsentKind.OPT_IN and contact.marketing_consent == MarketingConsent.OPTED_OUT and not consent.evidence:
        raise ConsentRefused(
            "This contact opted out: record an opt-in only when they asked again, and say how in `consent.evidence`.",
            details={"field": "consent.evidence"},
        )
    contact_consent_record(
        contact=contact,
        kind=kind,
        scope=ConsentScope(consent.scope),
        source=ConsentSource.API,
        occurred_at=consent.occurred_at,
        evidence=consent.evidence or f"Integration API key {api_key.name!r} (wac_{api_key.prefix}_…)",
    )


@transaction.atomic
def contact_put(
    *,
    api_key: ApiKey,
    phone: str,
    name: str | None,
    language: str | None,
    attributes: dict[str, Any] | None,
    tags: list[str] | None,
    consent: ConsentInput | None,
) -> tuple[Contact, bool]:
    """PUT /contacts/{phone}: creates or updates the contact, its tags and records a consent event, all or nothing."""
    contact, created = contact_upsert_from_api(
        phone=api_phone(phone), name=name, language=language, attributes=attributes
    )
    if tags is not None:
        _tags_set(contact, tags)
    if consent is not None:
        _consent_record(contact=contact, consent=consent, api_key=api_key)
    return contact, created


@transaction.atomic
def contact_opt_out_from_api(*, api_key: ApiKey, phone: str, consent: ConsentInput) -> Contact:
    """Records an opt-out; an unknown number becomes a contact so that no later send or import reaches them."""
    contact, _ = contact_upsert_from_api(phone=api_phone(phone))
    _consent_record(contact=contact, consent=consent, api_key=api_key)
    return contact


def contact_by_phone(phone: str) -> Contact:
    """The contact with this number, with its tags; raises ContactNotFound."""
    normalized = api_phone(phone)
    contact = Contact.objects.prefetch_related("tags").filter(phone=normalized).first()
    if contact is None:
        raise ContactNotFound(
            f"No contact has the number {normalized}: create it with PUT /api/v1/contacts/{normalized}.",
            details={"phone": normalized},
        )
    return contact


def contact_representation(contact: Contact) -> dict[str, Any]:
    """The API's view of a contact and its consent (reads the contact again: consent columns are written by SQL)."""
    contact = Contact.objects.prefetch_related("tags").get(pk=contact.pk)
    opted_out_of_all = contact.opted_out_of_all_at is not None
    return {
        "phone": contact.phone,
        "name": contact.name,
        "language": contact.language,
        "attributes": contact.attributes or {},
        "tags": sorted(tag.name for tag in contact.tags.all()),
        "consent": {
            "marketing": contact.marketing_consent,
            "marketing_source": contact.marketing_consent_source,
            "marketing_changed_at": contact.marketing_consent_at,
            "opted_out_of_all": opted_out_of_all,
            "opted_out_of_all_at": contact.opted_out_of_all_at,
            "can_receive_marketing": contact.marketing_consent == MarketingConsent.OPTED_IN,
            "can_receive_utility": not opted_out_of_all,
        },
        "created_at": contact.created_at,
        "updated_at": contact.updated_at or timezone.now(),
    }
