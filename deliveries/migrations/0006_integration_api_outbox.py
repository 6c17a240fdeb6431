"""The event outbox triggers (PostgreSQL and SQLite variants), the dispatcher and cleanup schedules, and the
permission groups re-synced over the integration API's models.

The trigger SQL lives in deliveries.api.events.triggers, which also re-creates the triggers after every
`migrate` (SQLite drops them when a later migration rebuilds a table).
"""

import importlib

from django.db import migrations

from deliveries.api.events.triggers import outbox_triggers_sql


def triggers_create(apps, schema_editor):
    for statement in outbox_triggers_sql(schema_editor.connection.vendor)[0]:
        schema_editor.execute(statement)


def triggers_drop(apps, schema_editor):
    for statement in outbox_triggers_sql(schema_editor.connection.vendor)[1]:
        schema_editor.execute(statement)


SCHEDULES = {
    # Time-boxed: drains the outbox, then stops (run `manage.py dispatch_api_events` for lower latency).
    "deliveries: dispatch API events": {
        "func": "deliveries.api.events.tasks.api_events_dispatch",
        "schedule_type": "I",
        "minutes": 1,
    },
    "deliveries: prune API records": {
        "func": "deliveries.api.events.tasks.api_records_prune",
        "schedule_type": "H",
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
    apps.get_model("django_q", "Schedule").objects.using(schema_editor.connection.alias).filter(
        name__in=list(SCHEDULES)
    ).delete()


def _sync_groups(apps, schema_editor):
    importlib.import_module("deliveries.migrations.0002_permission_groups")._sync_groups(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0005_integration_api"),
        ("contacts", "0002_contact_import"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.RunPython(triggers_create, triggers_drop),
        migrations.RunPython(schedules_create, schedules_delete),
        migrations.RunPython(_sync_groups, migrations.RunPython.noop),
    ]
