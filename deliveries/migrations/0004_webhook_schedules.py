"""The django-q2 schedules of the webhook retry (every 5 minutes) and the raw-event pruning (daily).

A data migration, so they exist after `migrate`; `update_or_create` by name keeps it idempotent.
"""

from django.db import migrations

SCHEDULES = {
    "deliveries: retry failed webhooks": {
        "func": "deliveries.webhooks.tasks.webhook_events_retry",
        "schedule_type": "I",  # minutes
        "minutes": 5,
    },
    "deliveries: prune old webhook events": {
        "func": "deliveries.webhooks.tasks.webhook_events_prune_old",
        "schedule_type": "D",  # daily
        "minutes": None,
    },
}


def schedules_create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, fields in SCHEDULES.items():
        Schedule.objects.using(schema_editor.connection.alias).update_or_create(
            name=name, defaults={**fields, "repeats": -1}
        )


def schedules_delete(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0003_sending_engine"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedules_create, schedules_delete)]
