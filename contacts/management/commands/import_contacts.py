"""`manage.py import_contacts FILE`: the admin's import, synchronously, printing the row errors."""

from django.core.management.base import BaseCommand, CommandError

from contacts.importing.services import contact_import_errors, contact_import_run
from contacts.models import ConsentSource, ContactImportStatus


class Command(BaseCommand):
    help = "Imports contacts from a CSV or XLSX file (the same rules as the admin import)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--default-country", default="", help="ISO country for numbers without a country code.")
        parser.add_argument(
            "--consent-source",
            default="",
            choices=["", *ConsentSource.values],
            help="Record every row without a consent column as opted in from this source.",
        )
        parser.add_argument("--tag", action="append", default=[], help="A tag for every contact (repeatable).")
        parser.add_argument(
            "--nothing-if-errors",
            action="store_true",
            help="Import nothing when any row has an error (default: import the valid rows).",
        )

    def handle(self, *args, **options):
        try:
            contact_import = contact_import_run(
                path=options["file"],
                default_country=options["default_country"],
                consent_source=options["consent_source"],
                tag_names="|".join(options["tag"]),
                import_valid_rows=not options["nothing_if_errors"],
            )
        except OSError as err:
            raise CommandError(f"cannot read {options['file']}: {err}") from err
        if contact_import.status == ContactImportStatus.FAILED:
            raise CommandError(contact_import.failure)
        for error in contact_import_errors(contact_import=contact_import, limit=None):
            self.stderr.write(error)
        self.stdout.write(
            f"{contact_import.get_status_display()}: {contact_import.rows_read} rows, "
            f"{contact_import.rows_invalid} with errors; {contact_import.contacts_created} contacts created, "
            f"{contact_import.contacts_updated} updated; {contact_import.opt_ins_recorded} opt-ins and "
            f"{contact_import.opt_outs_recorded} opt-outs recorded, {contact_import.opt_ins_refused} opt-ins refused "
            "(opted out before)."
        )
