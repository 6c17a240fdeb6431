"""`manage.py import_contacts`."""

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact, ContactImportRow, MarketingConsent

pytestmark = pytest.mark.django_db


def test_imports_and_prints_row_errors(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone,name\n612345678,Ana\n12,Bad\n")
    call_command(
        "import_contacts",
        str(path),
        "--default-country",
        "ES",
        "--consent-source",
        "web_form",
        "--tag",
        "cli",
        "--tag",
        "spring",
    )

    out, err = capsys.readouterr()
    assert "row 3, column 'phone': '12' is not a valid phone number" in err
    assert "1 contacts created" in out
    contact = Contact.objects.get()
    assert (contact.phone, contact.marketing_consent) == ("+34612345678", MarketingConsent.OPTED_IN)
    assert sorted(contact.tags.values_list("name", flat=True)) == ["cli", "spring"]


def test_nothing_if_errors_still_prints_the_row_errors(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone\n+34612345678\nbad\n")
    call_command("import_contacts", str(path), "--nothing-if-errors")

    out, err = capsys.readouterr()
    assert "row 3, column 'phone': 'bad' is not a phone number" in err
    assert out.startswith("Discarded (nothing imported): 2 rows, 1 with errors; 0 contacts created")
    assert Contact.objects.count() == 0
    assert ContactImportRow.objects.filter(error="").count() == 0  # the valid rows are not kept


def test_unreadable_file_is_a_command_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(CommandError, match="not a text table"):
        call_command("import_contacts", str(path))
