"""`manage.py dispatch_api_events`: sends outbound events continuously (lower latency than the minute schedule)."""

from django.core.management.base import BaseCommand

from deliveries.api.events.dispatch import api_events_dispatch


class Command(BaseCommand):
    help = "POSTs API events to subscribers continuously (run one or more beside qcluster; they share the work)."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=None, help="Stop after this long (default: never).")

    def handle(self, *args, seconds=None, **options):
        while True:
            result = api_events_dispatch(time_box=seconds or 300.0, idle_exit=None)
            if result.delivered or result.abandoned:
                self.stdout.write(f"delivered {result.delivered}, abandoned {result.abandoned}, failed {result.failed}")
            if seconds is not None:
                return
