"""Import of messy CSV/XLSX files: encodings, delimiters, numbers, duplicates, consent, suppression."""

import io
from datetime import UTC, datetime

import openpyxl
import pytest

from contacts.consent import ConsentChange, consent_state_from_history
from contacts.importing import merging, staging
from contacts.importing.services import (
    contact_import_confirm,
    contact_import_discard,
    contact_import_errors,
    contact_import_merge,
)
from contacts.models import (
    ConsentEvent,
    ConsentKind,
    ConsentScope,
    ConsentSource,
    Contact,
    ContactImportRow,
    ContactImportStatus,
    ErasedNumber,
    MarketingConsent,
    Tag,
)
from contacts.services import contact_consent_record, contact_create
from contacts.suppression import phone_number_hash

pytestmark = pytest.mark.django_db


def _import(stage, content: bytes, name="contacts.csv", **options):
    contact_import = stage(content, name, **options)
    assert contact_import.status == ContactImportStatus.PREVIEW, contact_import.failure
    contact_import_confirm(contact_import=contact_import)
    assert contact_import_merge(contact_import=contact_import)
    return contact_import


def _consent_state_matches_history(contact: Contact) -> bool:
    history = consent_state_from_history(
        ConsentChange(e.kind, e.scope, e.source, e.occurred_at)
        for e in contact.consent_events.order_by("occurred_at", "id")
    )
    return all(getattr(contact, name) == getattr(history, name) for name in history.__dataclass_fields__)


def test_utf8_bom_semicolons_quoted_newlines_blank_lines_and_spaces(stage):
    content = (
        "\ufeffPhone ; Name ; Tags ; City ; Notes\r\n"
        "\r\n"
        '+34 612 34 56 78 ;  Ana María  ; vip, madrid ; Madrid ; "first line\nsecond; line, with comma"\r\n'
        "   \r\n"
        "0034-612-345-679;Bob;;Sevilla;\r\n"
    ).encode()
    contact_import = _import(stage, content)

    assert contact_import.rows_read == 2
    assert contact_import.rows_invalid == 0
    ana = Contact.objects.get(phone="+34612345678")
    assert ana.name == "Ana María"
    assert ana.attributes == {"City": "Madrid", "Notes": "first line\nsecond; line, with comma"}
    assert sorted(ana.tags.values_list("name", flat=True)) == ["madrid", "vip"]
    assert Contact.objects.get(phone="+34612345679").attributes == {"City": "Sevilla"}
    assert ContactImportRow.objects.count() == 0  # valid staging rows are removed once merged
    assert not contact_import.file


def test_windows_1252_with_tabs_and_latin1(stage):
    cp1252 = "phone\tname\tcity\n+351 912 345 678\tJoão Gonçalves\tSão Paulo €\n".encode("cp1252")
    latin1 = "phone,name\n+34612345670,Íñigo Ñúñez\n".encode("latin-1")
    _import(stage, cp1252)
    _import(stage, latin1)

    assert Contact.objects.get(phone="+351912345678").name == "João Gonçalves"
    assert Contact.objects.get(phone="+351912345678").attributes == {"city": "São Paulo €"}
    assert Contact.objects.get(phone="+34612345670").name == "Íñigo Ñúñez"


def test_bad_and_local_numbers_are_row_errors_naming_row_column_and_value(stage):
    content = (
        b"name,Mobile Number\n"
        b"Local,(0)20 7946 0958\n"
        b"Dots,020.7946.0959\n"
        b"Short,12345\n"
        b"Letters,call me\n"
        b"Empty,\n"
        b"Intl,+44 20 7946 0960\n"
    )
    contact_import = stage(content, default_country="GB")

    assert contact_import.rows_read == 6
    assert contact_import.rows_valid == 3
    assert contact_import_errors(contact_import=contact_import) == [
        "row 4, column 'Mobile Number': '12345' is not a valid phone number",
        "row 5, column 'Mobile Number': 'call me' is not a phone number",
        "row 6, column 'Mobile Number': '' is empty: every row needs a phone number",
    ]
    valid = set(contact_import.rows.filter(error="").values_list("phone", flat=True))
    assert valid == {"+442079460958", "+442079460959", "+442079460960"}


def test_national_numbers_without_default_country_say_so(stage):
    contact_import = stage(b"phone\n612345678\n")

    assert contact_import_errors(contact_import=contact_import) == [
        "row 2, column 'phone': '612345678' is not a phone number (no country code, and no default country given)"
    ]


def test_duplicates_in_the_file_are_merged_and_existing_contacts_updated(stage):
    existing = contact_create(phone="+34612345678", name="Old name", attributes={"plan": "gold", "city": "Bilbao"})
    content = (
        b"phone,name,tags,city\n"
        b"+34 612 34 56 78,,a,Madrid\n"
        b"0034612345678,New name,b|A,\n"
        b"+34612345671,Carla,,\n"
        b"612345671,,c,Toledo\n"
    )
    contact_import = _import(stage, content, default_country="ES")

    assert Contact.objects.count() == 2
    existing.refresh_from_db()
    assert existing.name == "New name"
    assert existing.attributes == {"plan": "gold", "city": "Madrid"}
    assert sorted(existing.tags.values_list("name", flat=True)) == ["a", "b"]
    carla = Contact.objects.get(phone="+34612345671")
    assert (carla.name, carla.attributes, list(carla.tags.values_list("name", flat=True))) == (
        "Carla",
        {"city": "Toledo"},
        ["c"],
    )
    assert (contact_import.contacts_created, contact_import.contacts_updated) == (1, 1)
    assert Tag.objects.count() == 3


def test_an_import_never_resubscribes_an_opted_out_contact(stage):
    contact = contact_create(phone="+34612345678")
    contact_consent_record(
        contact=contact, kind=ConsentKind.OPT_OUT, scope=ConsentScope.ALL, source=ConsentSource.KEYWORD
    )
    contact_import = _import(stage, b"phone,opted_in,opt_in_date\n+34612345678,yes,2020-01-01\n")

    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.OPTED_OUT
    assert contact.opted_out_of_all_at is not None
    assert contact.consent_events.count() == 1
    assert contact_import.opt_ins_refused == 1
    assert contact_import.opt_ins_recorded == 0


def test_consent_columns_and_form_source_match_the_replayed_history(stage):
    opted_in_long_ago = contact_create(phone="+34612345670")
    contact_consent_record(
        contact=opted_in_long_ago,
        kind=ConsentKind.OPT_IN,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.WEB_FORM,
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    content = (
        b"phone,opted_in,opt_in_date,consent_source\n"
        b"+34612345671,yes,2023-02-03,web form\n"
        b"+34612345672,no,2023-02-03 10:30,\n"
        b"+34612345673,,,\n"
        b"+34612345674,yes,,Shop counter\n"
        b"+34612345670,no,2024-01-01,\n"  # an opt-out dated before the contact's opt-in: replayed in order
        b"+34612345675,maybe,,\n"
        b"+34612345676,yes,2999-01-01,\n"
    )
    contact_import = _import(stage, content, consent_source=ConsentSource.API)

    states = {c.phone: c for c in Contact.objects.all()}
    assert states["+34612345671"].marketing_consent_source == ConsentSource.WEB_FORM
    assert states["+34612345671"].marketing_consent_at == datetime(2023, 2, 3, tzinfo=UTC)
    assert states["+34612345672"].marketing_consent == MarketingConsent.OPTED_OUT
    assert states["+34612345673"].marketing_consent_source == ConsentSource.API  # from the form
    assert states["+34612345674"].marketing_consent_source == ConsentSource.IMPORT
    assert "source: Shop counter" in states["+34612345674"].consent_events.get().evidence
    assert states["+34612345670"].marketing_consent == MarketingConsent.OPTED_IN  # the later opt-in stands
    assert states["+34612345670"].consent_events.count() == 2
    assert contact_import_errors(contact_import=contact_import) == [
        "row 7, column 'opted_in': 'maybe' is not yes or no",
        "row 8, column 'opt_in_date': '2999-01-01' is in the future",
    ]
    assert all(_consent_state_matches_history(contact) for contact in states.values())
    assert ConsentEvent.objects.filter(evidence__startswith=f"import {contact_import.pk}").count() == 5


def test_suppressed_numbers_are_refused(stage):
    ErasedNumber.objects.create(number_hash=phone_number_hash("+34612345678"))
    contact_import = _import(stage, b"phone\n+34612345678\n+34612345679\n")

    assert list(Contact.objects.values_list("phone", flat=True)) == ["+34612345679"]
    assert "suppression list" in contact_import_errors(contact_import=contact_import)[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" + bytes(range(256)) * 4, "binary data"),
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"name,city\nAna,Madrid\n", "no phone column"),
        (b"PK\x03\x04not really a zip", "not a readable XLSX"),
        (b'phone,name\n+34612345678,"unterminated\n' + b"x" * (1024 * 1024 + 10), "line 2"),
    ],
)
def test_a_file_that_is_not_a_table_fails_with_a_clear_message(stage, content, message):
    contact_import = stage(content, "contacts.csv")

    assert contact_import.status == ContactImportStatus.FAILED
    assert message in contact_import.failure
    assert contact_import.rows.count() == 0
    assert Contact.objects.count() == 0


def test_xlsx_with_numeric_cells(stage):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Phone", "Name", "Language", "Tags"])
    sheet.append([34612345678, "Ana", "pt-br", "x;y"])
    sheet.append([None, None, None, None])
    sheet.append(["+34 612 345 679", "Bob", "es", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    contact_import = _import(stage, buffer.getvalue(), "contacts.xlsx", default_country="ES")

    assert contact_import.rows_read == 2
    assert dict(Contact.objects.values_list("phone", "language")) == {"+34612345678": "pt_BR", "+34612345679": "es"}


def test_discarding_imports_nothing(stage):
    contact_import = stage(b"phone\n+34612345678\nnope\n")
    contact_import_discard(contact_import=contact_import)

    assert contact_import.status == ContactImportStatus.DISCARDED
    assert Contact.objects.count() == 0
    assert ContactImportRow.objects.count() == 0


def test_a_stopped_merge_resumes_where_it_stopped(stage, monkeypatch):
    monkeypatch.setattr(merging, "CHUNK_ROWS", 4)  # the first number is staged twice
    lines = "".join(f"+3461234{n:04d},yes\n" for n in range(10))
    contact_import = stage(f"phone,opted_in\n{lines}+34612340000,yes\n".encode())
    contact_import_confirm(contact_import=contact_import)

    assert not contact_import_merge(contact_import=contact_import, should_stop=lambda: True)
    assert Contact.objects.count() == 3
    assert contact_import.status == ContactImportStatus.MERGING
    assert contact_import_merge(contact_import=contact_import)
    assert Contact.objects.count() == 10
    assert ConsentEvent.objects.count() == 10
    assert contact_import.phones_merged == 10


def test_numbers_are_normalized_in_a_process_pool(stage, monkeypatch):
    monkeypatch.setattr(staging, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "CHUNK_ROWS", 50)
    lines = "".join(f"(612) 34-{n:04d},n{n}\n" for n in range(500))
    contact_import = stage(f"phone,name\n{lines}bad,x\n".encode(), default_country="ES", processes=2)
    assert contact_import.rows_valid == 500
    assert contact_import.rows_invalid == 1
    contact_import_confirm(contact_import=contact_import)
    contact_import_merge(contact_import=contact_import)

    assert Contact.objects.count() == 500
    assert Contact.objects.get(phone="+34612340042").name == "n42"


def test_a_number_created_meanwhile_rolls_the_chunk_back_and_it_runs_again(stage, monkeypatch):
    contact_import = stage(b"phone,name,opted_in\n+34612345678,Ana,yes\n+34612345679,Bob,yes\n")
    contact_import_confirm(contact_import=contact_import)
    looked = []
    existing = merging._Chunk.existing

    def existing_then_someone_creates_ana(self, cursor, phones):
        found = existing(self, cursor, phones)
        looked.append(found)
        if len(looked) == 1:  # between our look and our insert, another writer creates Ana
            contact_create(phone="+34612345678", name="Created meanwhile")
        return found

    monkeypatch.setattr(merging._Chunk, "existing", existing_then_someone_creates_ana)
    assert contact_import_merge(contact_import=contact_import)

    assert len(looked) == 2  # the first attempt rolled back, the second merged
    assert dict(Contact.objects.values_list("phone", "name")) == {"+34612345678": "Ana", "+34612345679": "Bob"}
    assert ConsentEvent.objects.count() == 2
    assert (contact_import.contacts_created, contact_import.phones_merged) == (2, 2)
