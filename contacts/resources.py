"""django-import-export's resource for contacts: the columns of an export, and the row-by-row import path.

The admin and `import_contacts` import through `contacts.importing` (staged, set-based, resumable), which
reads the same columns; `ContactResource.import_data` is django-import-export's stock row-by-row path
with the same rules, kept as the baseline `bench/import_contacts.py` measures against.
"""

from import_export import fields, resources

from contacts.importing.rows import PHONE_COLUMNS, tag_names_split
from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact, MarketingConsent, Tag
from contacts.phone_numbers import phone_normalize
from contacts.services import contact_consent_record
from contacts.suppression import phone_is_suppressed

_KNOWN_COLUMNS = {"phone", "name", "language", "tags", "opted_in", *PHONE_COLUMNS}


class SuppressedNumber(ValueError):
    """The number was erased (GDPR) and is on the suppression list."""


class ContactResource(resources.ModelResource):
    tags = fields.Field(column_name="tags", readonly=True)
    marketing_consent = fields.Field(attribute="marketing_consent", column_name="marketing_consent", readonly=True)
    marketing_consent_source = fields.Field(
        attribute="marketing_consent_source", column_name="marketing_consent_source", readonly=True
    )
    marketing_consent_at = fields.Field(
        attribute="marketing_consent_at", column_name="marketing_consent_at", readonly=True
    )
    opted_out_of_all_at = fields.Field(
        attribute="opted_out_of_all_at", column_name="opted_out_of_all_at", readonly=True
    )

    class Meta:
        model = Contact
        import_id_fields = ("phone",)
        fields = (
            "phone",
            "name",
            "language",
            "tags",
            "marketing_consent",
            "marketing_consent_source",
            "marketing_consent_at",
            "opted_out_of_all_at",
        )
        export_order = fields

    def __init__(self, *, default_country: str = "", consent_source: str = "", **kwargs):
        super().__init__(**kwargs)
        self.default_country = default_country
        self.consent_source = consent_source

    def dehydrate_tags(self, contact: Contact) -> str:
        return "|".join(tag.name for tag in contact.tags.all())

    def before_import_row(self, row, **kwargs):
        phone = phone_normalize(str(row.get("phone") or "").lstrip("'"), default_country=self.default_country)
        if phone_is_suppressed(phone):
            raise SuppressedNumber(f"{phone} is on the suppression list")
        row["phone"] = phone

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        attributes = {key: value for key, value in row.items() if key not in _KNOWN_COLUMNS and value not in ("", None)}
        instance.attributes = {**(instance.attributes or {}), **attributes}

    def after_save_instance(self, instance, row, **kwargs):
        if kwargs.get("dry_run"):
            return
        for name in tag_names_split(str(row.get("tags") or "")):
            tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
            instance.tags.add(tag)
        opted_in = str(row.get("opted_in") or "").lower() in {"yes", "y", "true", "1"}
        if (opted_in or self.consent_source) and instance.marketing_consent == MarketingConsent.UNKNOWN:
            contact_consent_record(
                contact=instance,
                kind=ConsentKind.OPT_IN,
                scope=ConsentScope.MARKETING,
                source=self.consent_source or ConsentSource.IMPORT,
                evidence="import",
            )
