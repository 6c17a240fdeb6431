"""Contacts, tags, consent history and the erasure suppression list."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class Tag(models.Model):
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="tag_name_unique_case_insensitive"),
            models.CheckConstraint(condition=~Q(name=""), name="tag_name_not_empty"),
        ]

    def __str__(self):
        return self.name


class MarketingConsent(models.TextChoices):
    UNKNOWN = "unknown", "No record"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class ConsentKind(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"


class ConsentScope(models.TextChoices):
    MARKETING = "marketing", "Marketing messages"
    ALL = "all", "All messages"


class ConsentSource(models.TextChoices):
    IMPORT = "import", "Contact import"
    ADMIN = "admin", "Staff in the admin"
    WEB_FORM = "web_form", "Web form"
    API = "api", "Integration API"
    KEYWORD = "keyword", "Keyword reply (e.g. STOP)"
    OPT_OUT_BUTTON = "opt_out_button", "Opt-out quick-reply button"
    LINK_PAGE = "link_page", "Opt-out link page"
    META_PREFERENCE = "meta_preference", "WhatsApp marketing preference (Meta)"
    UNDELIVERABLE = "undeliverable", "Undeliverable number (Meta error 131026)"


class Contact(models.Model):
    """A recipient. Consent columns are the current state of the ConsentEvent history.

    They are written only by `contacts.services.contact_consent_record`, in the transaction that
    appends the event, so audience queries never replay history.
    """

    # Users with a WhatsApp username may reach us with no phone number, only a business-scoped user id.
    phone = models.CharField(max_length=20, null=True, blank=True, unique=True, help_text="E.164, e.g. +14155550123")
    wa_id = models.CharField(
        "WhatsApp id",
        max_length=32,
        null=True,
        blank=True,
        help_text="The id Meta reports for this user; it can differ from the phone (Brazil, Mexico).",
    )
    business_user_id = models.CharField(
        "business-scoped user id",
        max_length=128,
        null=True,
        blank=True,
        help_text="Meta's business-scoped user id (BSUID), e.g. US.13491208655302741918.",
    )
    username = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=15, blank=True, help_text="Template language code, e.g. en_US, es, pt_BR.")
    attributes = models.JSONField(default=dict, blank=True, help_text="Custom attributes, e.g. city, plan.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")

    marketing_consent = models.CharField(
        max_length=16, choices=MarketingConsent.choices, default=MarketingConsent.UNKNOWN, editable=False
    )
    marketing_consent_source = models.CharField(
        max_length=24, choices=ConsentSource.choices, blank=True, editable=False
    )
    # Every consent event changes the marketing state, so this is also the time of the latest event.
    marketing_consent_at = models.DateTimeField(null=True, blank=True, editable=False)
    opted_out_of_all_at = models.DateTimeField(null=True, blank=True, editable=False)
    opted_out_of_all_source = models.CharField(max_length=24, choices=ConsentSource.choices, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("erase_contact", "Can erase a contact's personal data (GDPR)")]
        constraints = [
            # Unique among the contacts that have one: most have no business user id, and a status webhook
            # sets the wa_id, an update that writes every index of the table (on PostgreSQL a unique column
            # also gets a LIKE index, which no query uses).
            models.UniqueConstraint(
                fields=["wa_id"],
                condition=Q(wa_id__isnull=False),
                name="contact_wa_id_unique",
                violation_error_message="A contact with this WhatsApp id already exists.",
            ),
            models.UniqueConstraint(
                fields=["business_user_id"],
                condition=Q(business_user_id__isnull=False),
                name="contact_business_user_id_unique",
                violation_error_message="A contact with this business-scoped user id already exists.",
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=False) | Q(wa_id__isnull=False) | Q(business_user_id__isnull=False),
                name="contact_has_an_address",
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=True) | Q(phone__startswith="+"), name="contact_phone_e164"
            ),
            models.CheckConstraint(
                condition=Q(marketing_consent__in=MarketingConsent.values), name="contact_marketing_consent_valid"
            ),
            # Opting out of everything opts out of marketing too.
            models.CheckConstraint(
                condition=Q(opted_out_of_all_at__isnull=True) | Q(marketing_consent=MarketingConsent.OPTED_OUT),
                name="contact_all_opt_out_implies_marketing_opt_out",
            ),
            models.CheckConstraint(
                condition=Q(marketing_consent=MarketingConsent.UNKNOWN, marketing_consent_at__isnull=True)
                | (~Q(marketing_consent=MarketingConsent.UNKNOWN) & Q(marketing_consent_at__isnull=False)),
                name="contact_consent_state_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["marketing_consent", "id"], name="contact_consent_idx"),
            models.Index(fields=["created_at"], name="contact_created_idx"),
        ]

    def __str__(self):
        label = self.phone or self.username or self.business_user_id or self.wa_id or f"contact {self.pk}"
        return f"{self.name} ({label})" if self.name else label


class ConsentEvent(models.Model):
    """One opt-in or opt-out, append-only: the legal record behind the contact's consent columns."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events")
    kind = models.CharField(max_length=8, choices=ConsentKind.choices)
    scope = models.CharField(max_length=16, choices=ConsentScope.choices)
    source = models.CharField(max_length=24, choices=ConsentSource.choices)
    occurred_at = models.DateTimeField(help_text="When the person gave or withdrew consent.")
    evidence = models.TextField(blank=True, help_text="What proves it: form text, keyword received, file and row…")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConsentKind.values), name="consent_event_kind_valid"),
            models.CheckConstraint(condition=Q(scope__in=ConsentScope.values), name="consent_event_scope_valid"),
            models.CheckConstraint(condition=Q(source__in=ConsentSource.values), name="consent_event_source_valid"),
        ]
        indexes = [models.Index(fields=["contact", "occurred_at", "id"], name="consent_event_history_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_scope_display()}) via {self.get_source_display()}"


class ErasedNumber(models.Model):
    """A keyed hash of an erased contact's number: no later import or API call may message it."""

    number_hash = models.CharField(max_length=64, unique=True, help_text="HMAC-SHA256 of the E.164 number.")
    erased_at = models.DateTimeField(auto_now_add=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "erased number (suppression list)"
        verbose_name_plural = "erased numbers (suppression list)"

    def __str__(self):
        return self.number_hash[:16] + "…"


class OptOutPageRequestCount(models.Model):
    """A client address's opt-out page requests in one minute, for the per-client limit (without Redis).

    Counted by one atomic upsert per request (`contacts.opt_out.rate_limit_exceeded`): the database cache's
    `incr` reads then writes, so concurrent requests on PostgreSQL overwrote each other's counts.
    """

    # Minute first: the unique index also serves the prune of every address's past minutes.
    minute = models.PositiveIntegerField(help_text="Minutes since the Unix epoch.")
    client_address = models.CharField(max_length=64)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["minute", "client_address"], name="opt_out_page_request_count_unique")
        ]

    def __str__(self):
        return f"{self.client_address} @ {self.minute}: {self.count}"


class ContactImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded, waiting to be read"
    STAGING = "staging", "Reading and checking rows"
    PREVIEW = "preview", "Checked: waiting for confirmation"
    MERGING = "merging", "Importing"
    DONE = "done", "Imported"
    DISCARDED = "discarded", "Discarded (nothing imported)"
    FAILED = "failed", "Failed"


class ContactImport(models.Model):
    """One uploaded contacts file: read into staging rows, previewed, then merged in resumable chunks.

    Nothing reaches the contacts table before the user confirms; the merge commits chunk by chunk and
    records in `merge_cursor` the last phone number merged, so a crashed merge resumes where it stopped.
    """

    file = models.FileField(upload_to="contact_imports/", blank=True)
    original_name = models.CharField(max_length=255)
    default_country = models.CharField(
        max_length=2, blank=True, help_text="ISO country for numbers written without a country code, e.g. ES."
    )
    consent_source = models.CharField(
        max_length=24,
        choices=ConsentSource.choices,
        blank=True,
        help_text="When set, every row without its own consent column is recorded as opted in from this source.",
    )
    tag_names = models.CharField(max_length=255, blank=True, help_text="Tags added to every imported contact.")
    status = models.CharField(max_length=12, choices=ContactImportStatus.choices, default=ContactImportStatus.UPLOADED)
    failure = models.TextField(blank=True, help_text="Why the file could not be read or imported.")
    rows_read = models.PositiveIntegerField(default=0)
    rows_valid = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    phones_to_merge = models.PositiveIntegerField(default=0, help_text="Distinct valid numbers.")
    phones_merged = models.PositiveIntegerField(default=0)
    merge_cursor = models.CharField(max_length=20, blank=True, help_text="The last phone number merged.")
    contacts_created = models.PositiveIntegerField(default=0)
    contacts_updated = models.PositiveIntegerField(default=0)
    opt_ins_recorded = models.PositiveIntegerField(default=0)
    opt_outs_recorded = models.PositiveIntegerField(default=0)
    opt_ins_refused = models.PositiveIntegerField(
        default=0, help_text="Opt-ins not recorded because the contact had opted out (never re-subscribed)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ContactImportStatus.values), name="contact_import_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(consent_source="") | Q(consent_source__in=ConsentSource.values),
                name="contact_import_consent_source_valid",
            ),
        ]

    def __str__(self):
        return f"import {self.pk}: {self.original_name}"


class ContactImportRow(models.Model):
    """A staged row of an import: checked and normalized, invisible to the product until merged."""

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(help_text="The line in the file (the header is line 1).")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164 when the row is valid.")
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=15, blank=True)
    tag_names = models.TextField(blank=True, help_text="Tag names separated by |.")
    attributes = models.JSONField(default=dict, blank=True)
    consent_kind = models.CharField(max_length=8, choices=ConsentKind.choices, blank=True)
    consent_source = models.CharField(max_length=24, choices=ConsentSource.choices, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_evidence = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True, help_text="Empty when the row is valid.")

    class Meta:
        ordering = ["contact_import", "row_number"]
        indexes = [
            models.Index(fields=["contact_import", "phone", "row_number"], name="contact_import_row_merge_idx"),
            models.Index(fields=["contact_import", "row_number"], name="contact_import_row_number_idx"),
        ]

    def __str__(self):
        return f"row {self.row_number}: {self.phone or self.error}"
