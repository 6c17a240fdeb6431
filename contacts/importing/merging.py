"""Merges staged rows into contacts, tags and consent events, set-based, one short transaction per chunk.

Each chunk takes the next CHUNK_PHONES distinct numbers after `ContactImport.merge_cursor`, locks the
contacts it updates, writes everything with a few bulk statements, and moves the cursor in the same
transaction: a crash loses at most one uncommitted chunk, and running the merge again resumes there.

Consent is written set-based for speed, but by the same rule as `contacts.services.contact_consent_record`:
each new event is applied with `consent_state_apply` to the contact's current state, which equals
replaying the whole history because an import's event is never placed before the latest one (a backdated
opt-out on a contact with later events goes through `contact_consent_record`, which replays).
"""

import json
from dataclasses import asdict, dataclass, field

from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.consent import ConsentChange, ConsentState, consent_state_apply
from contacts.models import (
    ConsentEvent,
    ConsentKind,
    ConsentScope,
    Contact,
    ContactImport,
    ContactImportRow,
    ContactImportStatus,
    MarketingConsent,
    Tag,
)
from contacts.services import contact_consent_record
from contacts.suppression import phones_suppressed

CHUNK_PHONES = 2_000
_CONSENT_FIELDS = tuple(ConsentState.__dataclass_fields__)
_UPDATED_FIELDS = ("name", "language", "attributes", *_CONSENT_FIELDS)


@dataclass
class _Merged:
    """Every staged row of one number, folded: later rows win, tags add up, an opt-out beats an opt-in."""

    phone: str
    name: str = ""
    language: str = ""
    tag_names: dict[str, str] = field(default_factory=dict)  # lower → as written
    attributes: dict = field(default_factory=dict)
    consent: ConsentChange | None = None
    evidence: str = ""

    def add(self, row: ContactImportRow) -> None:
        self.name = row.name or self.name
        self.language = row.language or self.language
        for name in filter(None, row.tag_names.split("|")):
            self.tag_names.setdefault(name.lower(), name)
        self.attributes.update(row.attributes or {})
        if row.consent_kind and not (
            self.consent and self.consent.kind == ConsentKind.OPT_OUT and row.consent_kind == ConsentKind.OPT_IN
        ):
            self.consent = ConsentChange(row.consent_kind, ConsentScope.MARKETING, row.consent_source, row.consent_at)
            self.evidence = row.consent_evidence


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    opt_ins: int = 0
    opt_outs: int = 0
    refused: int = 0


def _state(contact: Contact) -> ConsentState:
    return ConsentState(**{name: getattr(contact, name) for name in _CONSENT_FIELDS})


def _tag_ids(names: dict[str, str]) -> dict[str, int]:
    if not names:
        return {}
    lowered = list(names)

    def existing():
        return dict(Tag.objects.annotate(key=Lower("name")).filter(key__in=lowered).values_list("key", "id"))

    found = existing()
    missing = [Tag(name=names[key]) for key in lowered if key not in found]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        found = existing()
    return found


def _consent_decision(state: ConsentState, change: ConsentChange | None, counts: _Counts):
    """The new state, or None when the import records nothing; 'replay' for a backdated opt-out."""
    if change is None:
        return None
    if change.kind == ConsentKind.OPT_IN:
        if state.marketing_consent == MarketingConsent.OPTED_OUT:
            counts.refused += 1  # an import never re-subscribes someone who opted out
            return None
        if state.marketing_consent == MarketingConsent.OPTED_IN:
            return None
        counts.opt_ins += 1
        return consent_state_apply(state, change)
    if state.marketing_consent == MarketingConsent.OPTED_OUT:
        return None
    counts.opt_outs += 1
    if state.marketing_consent_at is not None and change.occurred_at < state.marketing_consent_at:
        return "replay"
    return consent_state_apply(state, change)


def _update_existing(rows: list[tuple]) -> None:
    """One statement for a chunk of contacts: (id, name, language, attributes, *consent columns)."""
    if not rows:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        placeholders = "(%s::bigint, %s::text, %s::text, %s::jsonb, %s::text, %s::text, %s::timestamptz, "\
                       "%s::timestamptz, %s::text)"
        values = ", ".join([placeholders] * len(rows))
        sets = ", ".join(f"{name} = v.{name}" for name in _UPDATED_FIELDS)
        params = [value for row in rows for value in (row[0], row[1], row[2], json.dumps(row[3]), *row[4:])]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE contacts_contact AS c SET {sets}, updated_at = %s "  # noqa: S608 (names are constants)
                f"FROM (VALUES {values}) AS v(id, {', '.join(_UPDATED_FIELDS)}) WHERE c.id = v.id",
                [now, *params],
            )
        return
    adapt = connection.ops.adapt_datetimefield_value
    sets = ", ".join(f"{name} = %s" for name in _UPDATED_FIELDS)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE contacts_contact SET {sets}, updated_at = %s WHERE id = %s",  # noqa: S608
            [
                (row[1], row[2], json.dumps(row[3]), row[4], row[5], adapt(row[6]), adapt(row[7]), row[8],
                 adapt(now), row[0])
                for row in rows
            ],
        )


def _merge_chunk(contact_import: ContactImport, phones: list[str]) -> _Counts:
    counts = _Counts()
    merged: dict[str, _Merged] = {}
    # Not the related manager: it would set the parent on each row, loading the deferred foreign key one by one.
    staged = (
        ContactImportRow.objects.filter(contact_import_id=contact_import.pk, error="", phone__in=phones)
        .order_by("phone", "row_number")
        .only("phone", "name", "language", "tag_names", "attributes", "consent_kind", "consent_source",
              "consent_at", "consent_evidence")
    )
    for row in staged.iterator(chunk_size=5_000):
        merged.setdefault(row.phone, _Merged(row.phone)).add(row)
    for phone in phones_suppressed(merged):
        del merged[phone]
    existing = {
        contact.phone: contact
        for contact in Contact.objects.select_for_update()
        .filter(phone__in=list(merged))
        .only("id", "phone", "name", "language", "attributes", *_CONSENT_FIELDS)
    }
    tag_ids = _tag_ids({key: name for item in merged.values() for key, name in item.tag_names.items()})

    new_contacts, updates, replays = [], [], []
    events: list[tuple[str, ConsentChange, str]] = []
    for phone, item in merged.items():
        contact = existing.get(phone)
        state = _state(contact) if contact else ConsentState()
        decision = _consent_decision(state, item.consent, counts)
        if decision == "replay":
            replays.append((contact, item))
            decision = None
        elif decision is not None:
            events.append((phone, item.consent, item.evidence))
        new_state = decision or state
        if contact is None:
            new_contacts.append(
                Contact(phone=phone, name=item.name, language=item.language, attributes=item.attributes,
                        **asdict(new_state))
            )
            continue
        attributes = {**(contact.attributes or {}), **item.attributes}
        name, language = item.name or contact.name, item.language or contact.language
        if (name, language, attributes, new_state) != (contact.name, contact.language, contact.attributes, state):
            updates.append((contact.id, name, language, attributes, *asdict(new_state).values()))
    counts.created = len(Contact.objects.bulk_create(new_contacts, batch_size=1_000))
    counts.updated = len(updates)
    _update_existing(updates)

    ids = {contact.phone: contact.id for contact in new_contacts} | {p: c.id for p, c in existing.items()}
    through = Contact.tags.through
    through.objects.bulk_create(
        [through(contact_id=ids[phone], tag_id=tag_ids[key]) for phone, item in merged.items()
         for key in item.tag_names],
        batch_size=5_000,
        ignore_conflicts=True,
    )
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(contact_id=ids[phone], kind=change.kind, scope=change.scope, source=change.source,
                         occurred_at=change.occurred_at, evidence=evidence, recorded_by_id=contact_import.created_by_id)
            for phone, change, evidence in events
        ],
        batch_size=2_000,
    )
    for contact, item in replays:
        contact_consent_record(contact=contact, kind=item.consent.kind, scope=item.consent.scope,
                               source=item.consent.source, occurred_at=item.consent.occurred_at,
                               evidence=item.evidence, recorded_by=contact_import.created_by)
    return counts


def merge_next_chunk(contact_import_id: int) -> bool:
    """Merges one chunk in its own transaction; False when nothing was left to merge."""
    with transaction.atomic():
        contact_import = ContactImport.objects.select_for_update().get(pk=contact_import_id)
        if contact_import.status != ContactImportStatus.MERGING:
            return False
        phones = list(
            contact_import.rows.filter(error="", phone__gt=contact_import.merge_cursor)
            .order_by("phone")
            .values_list("phone", flat=True)
            .distinct()[:CHUNK_PHONES]
        )
        if not phones:
            contact_import.status = ContactImportStatus.DONE
            contact_import.finished_at = timezone.now()
            contact_import.save(update_fields=["status", "finished_at", "updated_at"])
            return False
        counts = _merge_chunk(contact_import, phones)
        contact_import.merge_cursor = phones[-1]
        contact_import.phones_merged += len(phones)
        contact_import.contacts_created += counts.created
        contact_import.contacts_updated += counts.updated
        contact_import.opt_ins_recorded += counts.opt_ins
        contact_import.opt_outs_recorded += counts.opt_outs
        contact_import.opt_ins_refused += counts.refused
        contact_import.save()
        return True


