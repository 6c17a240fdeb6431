"""The django-q2 schedule of the template sync, kept in line with settings after every `migrate`."""

from django.conf import settings

SYNC_SCHEDULE_NAME = "templates_app: sync templates from Meta"
SYNC_TASK = "templates_app.tasks.templates_sync_all"


def template_sync_schedule_ensure(using: str = "default", **_signal_kwargs) -> None:
    """Create or update the sync schedule (every TEMPLATE_SYNC_INTERVAL_MINUTES); 0 removes it. Idempotent."""
    from django_q.models import Schedule

    minutes = settings.TEMPLATE_SYNC_INTERVAL_MINUTES
    if minutes <= 0:
        Schedule.objects.using(using).filter(name=SYNC_SCHEDULE_NAME).delete()
        return
    Schedule.objects.using(using).update_or_create(
        name=SYNC_SCHEDULE_NAME,
        defaults={"func": SYNC_TASK, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
    )
