"""`manage.py drain_webhooks`: the webhook drainer in the foreground (beside qcluster, or for operators)."""

import time
import uuid

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from deliveries.webhooks.draining import (
    HELD_ELSEWHERE,
    LEASE_SECONDS,
    webhook_events_drain,
    webhook_events_drain_pending,
)


class Command(BaseCommand):
    help = (
        "Applies stored webhooks continuously, holding the drainer lease (the POSTs then wake no drainer task). "
        "--once applies what is pending now and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=None, help="Stop after this long (default: never).")
        parser.add_argument("--once", action="store_true", help="Apply the pending rows now, then exit.")

    def handle(self, *args, seconds=None, once=False, **options):
        if once:
            report = webhook_events_drain_pending()
            self.stdout.write(f"processed {report.processed}, unrouted {report.unrouted}, failed {report.failed}")
            return
        token = uuid.uuid4()  # kept from run to run: each takes the lease over from the previous one
        while True:
            # Runs of a minute at most, so a dropped database connection is replaced between them.
            report = webhook_events_drain(token=token, time_box=60.0 if seconds is None else seconds)
            close_old_connections()
            if report.stopped_because == HELD_ELSEWHERE:
                time.sleep(LEASE_SECONDS / 2)
            if report.processed or report.failed or report.unrouted:
                self.stdout.write(
                    f"processed {report.processed}, unrouted {report.unrouted}, failed {report.failed}"
                    f" ({report.stopped_because})"
                )
            if seconds is not None:
                return
