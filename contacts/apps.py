"""The contacts app; at start-up it discovers every app's `personal_data` module (GDPR holders)."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts and consent"

    def ready(self):
        # Apps above contacts register where they keep personal data (see contacts.personal_data).
        autodiscover_modules("personal_data")
