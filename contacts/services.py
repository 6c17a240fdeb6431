"""Writes and rules for contacts and their consent."""

from dataclasses import asdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from contacts.consent import ConsentChange, ConsentState, consent_state_apply, consent_state_from_history
from contacts.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource, Contact
from contacts.phone_numbers import phone_normalize

_STATE_FIELDS = (
    "marketing_consent",
    "marketing_consent_source",
    "marketing_consent_at",
    "opted_out_of_all_at",
    "opted_out_of_all_source",
)


def _state_of(contact: Contact) -> ConsentState:
    return ConsentState(**{field: getattr(contact, field) for field in _STATE_FIELDS})


@transaction.atomic
def contact_consent_record(
    *,
    contact: Contact,
    kind: ConsentKind,
    scope: ConsentScope,
    source: ConsentSource,
    occurred_at: datetime | None = None,
    evidence: str = "",
    recorded_by=None,
) -> ConsentEvent:
    """Appends a consent event and updates the contact's consent columns in the same transaction."""
    occurred_at = occurred_at or timezone.now()
    locked = Contact.objects.select_for_update().only(*_STATE_FIELDS).get(pk=contact.pk)
    event = ConsentEvent.objects.create(
        contact=locked,
        kind=kind,
        scope=scope,
        source=source,
        occurred_at=occurred_at,
        evidence=evidence,
        recorded_by=recorded_by,
    )
    latest_at = locked.marketing_consent_at
    if latest_at is None or occurred_at >= latest_at:
        state = consent_state_apply(_state_of(locked), ConsentChange(kind, scope, source, occurred_at))
    else:
        # A backdated event (an import's opt-in date, say) lands inside the history: replay it all.
        state = consent_state_from_history(
            ConsentChange(e.kind, e.scope, e.source, e.occurred_at)
            for e in ConsentEvent.objects.filter(contact=locked).order_by("occurred_at", "id")
        )
    Contact.objects.filter(pk=locked.pk).update(updated_at=timezone.now(), **asdict(state))
    for field in _STATE_FIELDS:
        setattr(contact, field, getattr(state, field))
    return event


def contact_create(
    *,
    phone: str,
    default_country: str | None = None,
    name: str = "",
    language: str = "",
    attributes: dict | None = None,
) -> Contact:
    """Creates a contact from a phone number in any common format (raises InvalidPhoneNumber)."""
    return Contact.objects.create(
        phone=phone_normalize(phone, default_country=default_country),
        name=name,
        language=language,
        attributes=attributes or {},
    )
