"""Columns of an import file and the checks of one row (everything except phone normalization)."""

import re
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from functools import lru_cache

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from contacts.importing.reading import UnreadableTable
from contacts.models import ConsentKind, ConsentSource

PHONE_COLUMNS = (
    "phone",
    "phone_number",
    "mobile",
    "mobile_number",
    "whatsapp",
    "whatsapp_number",
    "msisdn",
    "number",
    "telephone",
    "tel",
)
NAME_COLUMNS = ("name", "full_name", "contact_name")
LANGUAGE_COLUMNS = ("language", "lang", "locale")
TAG_COLUMNS = ("tags", "tag", "labels")
CONSENT_COLUMNS = ("opted_in", "opt_in", "consent", "marketing_consent", "subscribed")
CONSENT_DATE_COLUMNS = (
    "opt_in_date",
    "opted_in_at",
    "opted_in_date",
    "opt_in_at",
    "consent_date",
    "consent_at",
    "marketing_consent_at",
)
CONSENT_SOURCE_COLUMNS = ("consent_source", "opt_in_source", "source", "marketing_consent_source")
# Written by our own export, read back as nothing (not as attributes).
IGNORED_COLUMNS = ("opted_out_of_all_at",)

_YES = {"yes", "y", "true", "1", "x", "opted_in", "opted in", "opt-in", "opt_in", "subscribed", "si", "sí", "sim"}
_NO = {"no", "n", "false", "0", "opted_out", "opted out", "opt-out", "opt_out", "unsubscribed", "não", "nao"}
_UNKNOWN = {"unknown", "no record", "-"}
_TAG_SEPARATORS = re.compile(r"[,;|]")
_LANGUAGE = re.compile(r"^([a-zA-Z]{2,3})(?:[_-]([a-zA-Z]{2,4}))?$")
_SOURCES = {value: value for value in ConsentSource.values} | {
    label.lower(): value for value, label in ConsentSource.choices
}
_TAG_MAX_LENGTH = 64
_NAME_MAX_LENGTH = 200


def _column_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_")


@dataclass
class ColumnMap:
    """Which cell of a row holds what; every column we do not know is a custom attribute."""

    header: list[str]
    phone: int
    name: int | None = None
    language: int | None = None
    tags: int | None = None
    consent: int | None = None
    consent_at: int | None = None
    consent_source: int | None = None
    attributes: list[tuple[int, str]] = field(default_factory=list)


def columns_map(header: list[str]) -> ColumnMap:
    """Maps a header row to columns (raises UnreadableTable when there is no phone column)."""
    keys = [_column_key(text) for text in header]
    found: dict[str, int] = {}
    attributes = []
    known = {
        "phone": PHONE_COLUMNS,
        "name": NAME_COLUMNS,
        "language": LANGUAGE_COLUMNS,
        "tags": TAG_COLUMNS,
        "consent": CONSENT_COLUMNS,
        "consent_at": CONSENT_DATE_COLUMNS,
        "consent_source": CONSENT_SOURCE_COLUMNS,
    }
    for index, key in enumerate(keys):
        role = next((role for role, names in known.items() if key in names and role not in found), None)
        if role:
            found[role] = index
        elif key and key not in IGNORED_COLUMNS:
            attributes.append((index, header[index].strip()))
    if "phone" not in found:
        raise UnreadableTable(
            f"no phone column: the first row must be a header naming a 'phone' column (found: {', '.join(header)})"
        )
    return ColumnMap(header=header, attributes=attributes, **found)


@dataclass
class RowOptions:
    """What the import form adds to every row."""

    consent_source: str = ""
    tag_names: tuple[str, ...] = ()
    evidence_prefix: str = ""
    now: datetime = field(default_factory=timezone.now)
    timezone: tzinfo = field(default_factory=timezone.get_current_timezone)  # for dates without one


@dataclass
class CheckedRow:
    row_number: int
    raw_phone: str
    name: str = ""
    language: str = ""
    tag_names: list[str] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    consent_kind: str = ""
    consent_source: str = ""
    consent_at: datetime | None = None
    consent_evidence: str = ""
    errors: list[str] = field(default_factory=list)


def tag_names_split(text: str) -> list[str]:
    """'vip; spain|Madrid ,vip' → ['vip', 'spain', 'Madrid'] (case-insensitively unique, order kept)."""
    names, seen = [], set()
    for part in _TAG_SEPARATORS.split(text or ""):
        name = " ".join(part.split())
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


@lru_cache(maxsize=4096)  # a file repeats the same few dates; parsing one costs more than the rest of the row
def _consent_datetime(text: str, zone: tzinfo) -> datetime:
    parsed = parse_datetime(text.replace("/", "-"))
    if parsed is None:
        day = parse_date(text.replace("/", "-"))
        if day is None:
            raise ValueError("is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)")
        parsed = datetime.combine(day, time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, zone)
    return parsed


def _parse_consent_at(text: str, options: RowOptions) -> datetime:
    parsed = _consent_datetime(text, options.timezone)
    if parsed > options.now:
        raise ValueError("is in the future")
    return parsed


def _error(row_number: int, column: str, value: str, problem: str) -> str:
    return f"row {row_number}, column {column!r}: {value!r} {problem}"


def row_check(cells: list[str], columns: ColumnMap, *, row_number: int, options: RowOptions) -> CheckedRow:
    """Reads one row's cells; problems become `errors` naming the row, the column and the value."""

    def cell(index):
        return cells[index] if index is not None and index < len(cells) else ""

    def column(index):
        return columns.header[index]

    row = CheckedRow(row_number=row_number, raw_phone=cell(columns.phone).lstrip("'"))
    row.name = " ".join(cell(columns.name).split())
    if len(row.name) > _NAME_MAX_LENGTH:
        row.errors.append(_error(row_number, column(columns.name), row.name[:40] + "…", "is too long"))
    language = cell(columns.language)
    if language:
        match = _LANGUAGE.match(language)
        if match:
            row.language = match[1].lower() + (f"_{match[2].upper()}" if match[2] else "")
        else:
            row.errors.append(_error(row_number, column(columns.language), language, "is not a language code"))
    row.tag_names = tag_names_split(cell(columns.tags) + "|" + "|".join(options.tag_names))
    for name in row.tag_names:
        if len(name) > _TAG_MAX_LENGTH:
            row.errors.append(_error(row_number, column(columns.tags), name, "is too long for a tag"))
    row.attributes = {key: cells[index] for index, key in columns.attributes if index < len(cells) and cells[index]}

    consent, consent_at, source = cell(columns.consent), cell(columns.consent_at), cell(columns.consent_source)
    if consent.lower() in _UNKNOWN:
        consent = consent_at = source = ""
    if consent:
        if consent.lower() in _YES:
            row.consent_kind = ConsentKind.OPT_IN
        elif consent.lower() in _NO:
            row.consent_kind = ConsentKind.OPT_OUT
        else:
            row.errors.append(_error(row_number, column(columns.consent), consent, "is not yes or no"))
    elif consent_at or source:
        row.consent_kind = ConsentKind.OPT_IN
    elif options.consent_source:
        row.consent_kind = ConsentKind.OPT_IN
        row.consent_source = options.consent_source
    if row.consent_kind:
        row.consent_at = options.now
        if consent_at:
            try:
                row.consent_at = _parse_consent_at(consent_at, options)
            except ValueError as err:
                row.errors.append(_error(row_number, column(columns.consent_at), consent_at, str(err)))
        evidence = f"{options.evidence_prefix}, row {row_number}"
        if source:
            row.consent_source = _SOURCES.get(source.lower(), ConsentSource.IMPORT)
            if row.consent_source == ConsentSource.IMPORT:
                evidence += f", source: {source}"
        row.consent_source = row.consent_source or options.consent_source or ConsentSource.IMPORT
        row.consent_evidence = evidence[:255]
    return row
