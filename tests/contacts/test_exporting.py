"""Export of contacts (CSV, XLSX): tags, attributes, consent state, formula cells neutralized."""

import csv
import io

import openpyxl
import pytest

from contacts.exporting import contacts_export
from contacts.importing.services import contact_import_confirm, contact_import_merge
from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact, Tag
from contacts.services import contact_consent_record, contact_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts():
    ana = contact_create(
        phone="+34612345678",
        name='=HYPERLINK("http://evil.example","x")',
        attributes={"city": "Madrid", "note": "@SUM(A1:A2)"},
    )
    ana.tags.add(Tag.objects.create(name="vip"), Tag.objects.create(name="-minus"))
    contact_consent_record(
        contact=ana, kind=ConsentKind.OPT_IN, scope=ConsentScope.MARKETING, source=ConsentSource.WEB_FORM
    )
    contact_create(phone="+351912345678", name="Bob", attributes={"plan": "+gold"})
    return Contact.objects.all()


def test_csv_export_neutralizes_formula_cells_and_round_trips(contacts, stage):
    content = contacts_export(contacts, file_format="csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))

    ana = next(row for row in rows if row["name"].startswith("'="))
    assert ana["phone"] == "'+34612345678"
    assert ana["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert ana["note"] == "'@SUM(A1:A2)"
    assert ana["city"] == "Madrid"
    assert ana["tags"] == "'-minus|vip"  # the tag list starts with '-': neutralized as one cell
    assert ana["marketing_consent"] == "opted_in"
    assert ana["marketing_consent_source"] == "web_form"
    bob = next(row for row in rows if row["name"] == "Bob")
    assert (bob["plan"], bob["city"]) == ("'+gold", "")
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())

    Contact.objects.all().delete()
    reimport = stage(content)
    contact_import_confirm(contact_import=reimport)
    contact_import_merge(contact_import=reimport)
    assert set(Contact.objects.values_list("phone", flat=True)) == {"+34612345678", "+351912345678"}


def test_xlsx_export_keeps_phones_as_text_and_neutralizes_formulas(contacts):
    workbook = openpyxl.load_workbook(io.BytesIO(contacts_export(contacts, file_format="xlsx")))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    cells = {row[header.index("phone")].value: row for row in sheet.iter_rows(min_row=2)}

    phone_cell = cells["+34612345678"][header.index("phone")]
    assert phone_cell.data_type == "s"
    name_cell = cells["+34612345678"][header.index("name")]
    assert name_cell.data_type == "s"
    assert name_cell.value == '\'=HYPERLINK("http://evil.example","x")'
    assert cells["+351912345678"][header.index("plan")].value == "'+gold"
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
