"""`make demo`, step one: migrate, create the demo admin user and load the demo data."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command

from wacampaigns.demo_data import demo_data_load

DEMO_ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Migrates, creates the demo admin user (prints its login) and loads demo data. Safe to run twice."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        password = settings.DEMO_ADMIN_PASSWORD or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_ADMIN_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        simulator_url = f"http://{settings.DEMO_HOST}:{settings.DEMO_SIMULATOR_PORT}"
        summary = demo_data_load(simulator_base_url=simulator_url)
        self.stdout.write(
            f"Demo data: {summary.contacts} contacts, {summary.templates} templates, "
            f"campaign {summary.campaign.name!r} ({summary.campaign.get_status_display()}).\n"
            f"Admin login: {DEMO_ADMIN_USERNAME} / {password}"
        )
