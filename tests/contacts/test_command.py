"""`manage.py import_contacts`."""

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact, MarketingConsent

pytestmark = pytest.mark.django_db


def test_imports_and_prints_row_errors(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone,name\n612345678,Ana\n12,Bad\n")
    call_command("import_contacts", str(path), "--default-country", "ES", "--consent-source", "web_form",
                 "--tag", "cli", "--tag", "spring")

    out, err = capsys.readouterr()
    assert "row 3, column 'phone': '12' is not a valid phone number" in err
    assert "1 contacts created" in out
    contact = Contact.objects.get()
    assert (contact.phone, contact.marketing_consent) == ("+34612345678", MarketingConsent.OPTED_IN)
    assert sorted(contact.tags.values_list("name", flat=True)) == ["cli", "spring"]


def test_nothing_if_errors(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone\n+34612345678\nbad\n")
    call_command("import_contacts", str(path), "--nothing-if-errors")

    assert Contact.objects.count() == 0


def test_unreadable_file_is_a_command_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(CommandError, match="not a text table"):
        call_command("import_contacts", str(path))
