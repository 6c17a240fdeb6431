"""Merges staged rows into contacts, tags and consent events, set-based, one short transaction per chunk.

Each chunk takes the staged rows of the next numbers after `ContactImport.merge_cursor` (about CHUNK_ROWS
rows, never splitting a number), folds the rows of each number in Python, and writes the whole chunk with
one COPY (PostgreSQL) or executemany (SQLite) into a scratch table and set-based statements from it:
INSERT … SELECT … ON CONFLICT … RETURNING for new contacts (their ids come back: nothing joins on phone
numbers afterwards), UPDATE … FROM for existing ones, INSERT … SELECT … ON CONFLICT for tag links, and
one COPY / executemany for consent events. The merged staging rows are deleted and the cursor moves in the same
transaction: a crash loses at most one uncommitted chunk, and running the merge again resumes there.

Consent is written set-based for speed, but by the same rule as `contacts.services.contact_consent_record`:
each new event is applied with `consent_state_apply` to the contact's current state (read under a row
lock), which equals replaying the whole history because an import's event is never placed before the
latest one (a backdated opt-out on a contact with later events goes through `contact_consent_record`,
which replays).
"""

import json
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.consent import ConsentChange, ConsentState, consent_state_apply
from contacts.importing.bulk import aware, db_datetime_adapter, rows_insert, temp_table_create
from contacts.importing.staging import suppressed_numbers
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

CHUNK_ROWS = 10_000
MAX_ATTEMPTS = 3
_CONSENT_FIELDS = tuple(ConsentState.__dataclass_fields__)
_STAGED = ContactImportRow._meta.db_table
_CONTACTS = Contact._meta.db_table
_LINKS = Contact.tags.through._meta.db_table
_EVENTS = ConsentEvent._meta.db_table
_SCRATCH = "contact_import_merge"
_SCRATCH_LINKS = "contact_import_merge_tags"
_SCRATCH_COLUMNS = (
    ("phone", "text"),
    ("contact_id", "bigint"),
    ("name", "text"),
    ("language", "text"),
    ("attributes", "json"),
    ("marketing_consent", "text"),
    ("marketing_consent_source", "text"),
    ("marketing_consent_at", "time"),
    ("opted_out_of_all_at", "time"),
    ("opted_out_of_all_source", "text"),
    ("consent_changed", "bool"),
)
_TYPES = {
    "postgresql": {"text": "text", "bigint": "bigint", "json": "jsonb", "time": "timestamptz", "bool": "boolean"},
    "sqlite": {"text": "text", "bigint": "integer", "json": "text", "time": "datetime", "bool": "integer"},
}
# How a contact's attributes take the file's: a shallow merge, the file winning (values are strings).
_ATTRIBUTES_MERGED = {"postgresql": "c.attributes || v.attributes", "sqlite": "json_patch(c.attributes, v.attributes)"}
_ATTRIBUTES_AS_STORED = {"postgresql": "c.attributes", "sqlite": "json(c.attributes)"}


class MergeRaced(RuntimeError):
    """Another writer kept creating the numbers of a chunk while it merged; run the merge again."""


class _Raced(Exception):
    """A number of this chunk was created by someone else after we looked: the chunk rolls back."""


@dataclass(slots=True)
class _Merged:
    """Every staged row of one number, folded: later rows win, tags add up, an opt-out beats an opt-in."""

    phone: str
    name: str = ""
    language: str = ""
    tag_names: dict[str, str] = field(default_factory=dict)  # lower → as written
    attributes: str = "{}"  # JSON text, as staged
    consent: ConsentChange | None = None
    evidence: str = ""

    @classmethod
    def fold(cls, phone: str, rows: list[tuple]) -> "_Merged":
        """Rows are (phone, name, language, tag_names, attributes, kind, source, at, evidence), in file order."""
        if len(rows) == 1:  # most numbers appear once: their attributes go through as staged
            _, name, language, tag_names, attributes, kind, source, at, evidence = rows[0]
            return cls(
                phone,
                name,
                language,
                {tag.lower(): tag for tag in tag_names.split("|") if tag},  # staged unique, case-insensitively
                attributes if isinstance(attributes, str) else json.dumps(attributes, ensure_ascii=False),
                ConsentChange(kind, ConsentScope.MARKETING, source, aware(at)) if kind else None,
                evidence,
            )
        merged = cls(phone)
        attributes: dict = {}
        for _, name, language, tag_names, row_attributes, kind, source, at, evidence in rows:
            merged.name = name or merged.name
            merged.language = language or merged.language
            for tag in filter(None, tag_names.split("|")):
                merged.tag_names.setdefault(tag.lower(), tag)
            attributes.update(json.loads(row_attributes) if isinstance(row_attributes, str) else row_attributes)
            if kind and not (
                merged.consent and merged.consent.kind == ConsentKind.OPT_OUT and kind == ConsentKind.OPT_IN
            ):
                merged.consent = ConsentChange(kind, ConsentScope.MARKETING, source, aware(at))
                merged.evidence = evidence
        merged.attributes = json.dumps(attributes, ensure_ascii=False)
        return merged


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    opt_ins: int = 0
    opt_outs: int = 0
    refused: int = 0


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


class _Chunk:
    """The staged rows of numbers in (after, upto]: `upto` None means every number after `after`."""

    def __init__(self, contact_import: ContactImport, after: str, upto: str | None):
        self.contact_import = contact_import
        self.where = "contact_import_id = %s AND error = '' AND phone > %s" + (" AND phone <= %s" if upto else "")
        self.params = [contact_import.pk, after, *([upto] if upto else [])]

    @classmethod
    def next(cls, cursor, contact_import: ContactImport) -> "_Chunk":
        cursor.execute(
            f"SELECT phone FROM {_STAGED} WHERE contact_import_id = %s AND error = '' AND phone > %s "  # noqa: S608
            "ORDER BY phone LIMIT 1 OFFSET %s",
            [contact_import.pk, contact_import.merge_cursor, CHUNK_ROWS - 1],
        )
        edge = cursor.fetchone()
        return cls(contact_import, contact_import.merge_cursor, edge[0] if edge else None)

    def staged(self, cursor) -> list[tuple]:
        cursor.execute(
            "SELECT phone, name, language, tag_names, attributes, consent_kind, consent_source, consent_at, "  # noqa: S608
            f"consent_evidence FROM {_STAGED} WHERE {self.where} ORDER BY phone, row_number",
            self.params,
        )
        return cursor.fetchall()

    def existing(self, cursor, phones: list[str]) -> dict[str, tuple[int, ConsentState]]:
        """The contacts of these numbers, locked: phone → (id, consent state)."""
        columns = f"SELECT id, phone, {', '.join(_CONSENT_FIELDS)} FROM {_CONTACTS}"  # noqa: S608
        if connection.vendor == "postgresql":
            # One array parameter: an index lookup per number whatever the planner thinks of the staging table.
            cursor.execute(f"{columns} WHERE phone = ANY(%s) FOR UPDATE", [phones])
        else:
            cursor.execute(
                f"{columns} WHERE phone IN (SELECT phone FROM {_STAGED} WHERE {self.where})",  # noqa: S608
                self.params,
            )
        return {
            phone: (contact_id, ConsentState(consent, source, aware(consent_at), aware(all_at), all_source))
            for contact_id, phone, consent, source, consent_at, all_at, all_source in cursor.fetchall()
        }

    def delete_staged(self, cursor) -> None:
        cursor.execute(f"DELETE FROM {_STAGED} WHERE {self.where}", self.params)  # noqa: S608


def _write(cursor, contact_import: ContactImport, scratch: list[tuple], links: list, events: list, counts: _Counts):
    """Writes a chunk. `links` are (phone, tag id) and `events` (phone, kind, source, occurred_at, evidence)."""
    vendor = connection.vendor
    types = _TYPES[vendor]
    now = db_datetime_adapter()(timezone.now())
    temp_table_create(cursor, _SCRATCH, ", ".join(f"{name} {types[kind]}" for name, kind in _SCRATCH_COLUMNS))
    rows_insert(cursor, _SCRATCH, [name for name, _ in _SCRATCH_COLUMNS], scratch)
    if vendor == "postgresql":
        cursor.execute(f"ANALYZE {_SCRATCH}")  # so that the UPDATE probes the contacts' primary key

    consent = ", ".join(_CONSENT_FIELDS)
    cursor.execute(
        f"INSERT INTO {_CONTACTS} (phone, username, name, language, attributes, {consent}, created_at, updated_at) "  # noqa: S608
        f"SELECT phone, '', name, language, attributes, {consent}, %s, %s FROM {_SCRATCH} "
        "WHERE contact_id IS NULL ON CONFLICT (phone) DO NOTHING RETURNING phone, id",
        [now, now],
    )
    ids = dict(cursor.fetchall())
    if len(ids) != sum(1 for row in scratch if row[1] is None):
        raise _Raced
    counts.created = len(ids)
    ids.update((row[0], row[1]) for row in scratch if row[1] is not None)

    if counts.created < len(scratch):
        merged, stored = _ATTRIBUTES_MERGED[vendor], _ATTRIBUTES_AS_STORED[vendor]
        cursor.execute(
            f"UPDATE {_CONTACTS} AS c SET "  # noqa: S608
            "name = CASE WHEN v.name = '' THEN c.name ELSE v.name END, "
            "language = CASE WHEN v.language = '' THEN c.language ELSE v.language END, "
            f"attributes = {merged}, "
            + "".join(f"{name} = v.{name}, " for name in _CONSENT_FIELDS)
            + f"updated_at = %s FROM {_SCRATCH} AS v WHERE c.id = v.contact_id AND v.contact_id IS NOT NULL AND ("
            "v.consent_changed OR (v.name <> '' AND v.name <> c.name) "
            f"OR (v.language <> '' AND v.language <> c.language) OR {merged} <> {stored})",
            [now],
        )
        counts.updated = cursor.rowcount

    if links:
        temp_table_create(cursor, _SCRATCH_LINKS, f"contact_id {types['bigint']}, tag_id {types['bigint']}")
        rows_insert(cursor, _SCRATCH_LINKS, ("contact_id", "tag_id"), [(ids[phone], tag) for phone, tag in links])
        cursor.execute(
            f"INSERT INTO {_LINKS} (contact_id, tag_id) SELECT contact_id, tag_id FROM {_SCRATCH_LINKS} "  # noqa: S608
            "WHERE true ON CONFLICT (contact_id, tag_id) DO NOTHING"
        )
    scope, recorded_by = ConsentScope.MARKETING.value, contact_import.created_by_id
    rows_insert(
        cursor,
        _EVENTS,
        ("contact_id", "kind", "scope", "source", "occurred_at", "evidence", "recorded_by_id", "recorded_at"),
        [
            (ids[phone], kind, scope, source, at, evidence, recorded_by, now)
            for phone, kind, source, at, evidence in events
        ],
    )


def _merge_chunk(cursor, chunk: _Chunk, staged: list[tuple]) -> tuple[_Counts, int]:
    """Writes one chunk; returns the counts and how many numbers it held."""
    merged = {phone: _Merged.fold(phone, list(rows)) for phone, rows in groupby(staged, key=itemgetter(0))}
    numbers = len(merged)
    for phone in suppressed_numbers(merged):
        del merged[phone]  # erased after staging
    existing = chunk.existing(cursor, list(merged))
    tag_ids = _tag_ids({key: name for item in merged.values() for key, name in item.tag_names.items()})

    counts = _Counts()
    scratch, links, events, replays = [], [], [], []
    db_datetime = db_datetime_adapter()
    for phone, item in merged.items():
        contact_id, state = existing.get(phone, (None, ConsentState()))
        decision = _consent_decision(state, item.consent, counts)
        if decision == "replay":
            replays.append((contact_id, item))
        elif decision is not None:
            state = decision
            change = item.consent
            events.append((phone, change.kind, change.source, db_datetime(change.occurred_at), item.evidence))
        scratch.append(
            (
                phone,
                contact_id,
                item.name,
                item.language,
                item.attributes,
                state.marketing_consent,
                state.marketing_consent_source,
                db_datetime(state.marketing_consent_at),
                db_datetime(state.opted_out_of_all_at),
                state.opted_out_of_all_source,
                decision not in (None, "replay"),
            )
        )
        links.extend((phone, tag_ids[key]) for key in item.tag_names)
    _write(cursor, chunk.contact_import, scratch, links, events, counts)
    for contact_id, item in replays:
        contact_consent_record(
            contact=Contact(pk=contact_id),
            kind=item.consent.kind,
            scope=item.consent.scope,
            source=item.consent.source,
            occurred_at=item.consent.occurred_at,
            evidence=item.evidence,
            recorded_by=chunk.contact_import.created_by,
        )
    return counts, numbers


def _merge_one(contact_import_id: int) -> bool:
    with transaction.atomic(), connection.cursor() as cursor:
        contact_import = ContactImport.objects.select_for_update().get(pk=contact_import_id)
        if contact_import.status != ContactImportStatus.MERGING:
            return False
        chunk = _Chunk.next(cursor, contact_import)
        staged = chunk.staged(cursor)
        if not staged:
            contact_import.status = ContactImportStatus.DONE
            contact_import.finished_at = timezone.now()
            contact_import.save(update_fields=["status", "finished_at", "updated_at"])
            return False
        counts, numbers = _merge_chunk(cursor, chunk, staged)
        chunk.delete_staged(cursor)
        contact_import.merge_cursor = staged[-1][0]
        contact_import.phones_merged += numbers
        contact_import.contacts_created += counts.created
        contact_import.contacts_updated += counts.updated
        contact_import.opt_ins_recorded += counts.opt_ins
        contact_import.opt_outs_recorded += counts.opt_outs
        contact_import.opt_ins_refused += counts.refused
        contact_import.save()
        return True


def merge_next_chunk(contact_import_id: int) -> bool:
    """Merges one chunk in its own transaction; False when nothing was left to merge."""
    for _ in range(MAX_ATTEMPTS):
        try:
            return _merge_one(contact_import_id)
        except _Raced:
            continue  # rolled back: the numbers created meanwhile are existing contacts on the next attempt
    raise MergeRaced(f"import {contact_import_id}: numbers kept appearing while a chunk merged")
