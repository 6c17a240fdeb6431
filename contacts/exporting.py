"""Contacts exported as CSV or XLSX, with tags, attributes (one column each) and consent state.

Cells a spreadsheet would run as a formula (starting with =, +, -, @, or a tab or carriage return,
per OWASP's CSV injection advice) get a leading apostrophe, which spreadsheets show as text. That
includes E.164 phone numbers in CSV ('+34612345678); the import strips the apostrophe again. In XLSX
every cell is written as a typed string, so a phone number stays exactly "+34612345678" (text, never a
formula) and only the other cells starting with those characters are prefixed.
"""

import tablib

from contacts.resources import ContactResource

FORMATS = ("csv", "xlsx")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class UnknownExportFormat(ValueError):
    """The export format is not CSV or XLSX."""


def cell_neutralize(value):
    """'=HYPERLINK(…)' → "'=HYPERLINK(…)"; anything else unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def contacts_export(queryset, *, file_format: str) -> bytes:
    """The contacts in `queryset` as a CSV or XLSX file."""
    if file_format not in FORMATS:
        raise UnknownExportFormat(file_format)
    queryset = queryset.order_by("id")
    dataset = ContactResource().export(queryset.prefetch_related("tags"))
    attribute_keys = sorted(
        {key for attributes in queryset.values_list("attributes", flat=True).iterator() for key in (attributes or {})}
    )
    rows = []
    phone_index = dataset.headers.index("phone")
    for row, attributes in zip(dataset, queryset.values_list("attributes", flat=True), strict=True):
        values = [*row, *((attributes or {}).get(key, "") for key in attribute_keys)]
        values = ["" if value is None else value for value in values]
        rows.append(
            [
                value if file_format == "xlsx" and index == phone_index else cell_neutralize(value)
                for index, value in enumerate(values)
            ]
        )
    headers = [*dataset.headers, *attribute_keys]
    result = tablib.Dataset(*rows, headers=[cell_neutralize(header) for header in headers])
    exported = result.export(file_format)
    return exported.encode("utf-8-sig") if isinstance(exported, str) else exported


def contacts_export_filename(file_format: str) -> str:
    return f"contacts.{file_format}"
