"""SQLite: the materializer counts its queued rows in one upsert per chunk, the insert trigger skips them.

The insert trigger gains a condition (`deliveries.analytics.triggers.SQLITE_COUNTED_BY_INSERTER`): it is
dropped, and `analytics_triggers_ensure` creates the table it reads and every trigger afresh, with a recount.
PostgreSQL is unchanged.
"""

from django.db import migrations

from deliveries.analytics.triggers import analytics_triggers_ensure


def insert_trigger_replace(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS deliveries_analytics_insert;")
        analytics_triggers_ensure(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("deliveries", "0013_api_key_request_counts")]

    # Backwards, the new trigger stays: with the table empty it counts every insert, as the earlier one did.
    operations = [migrations.RunPython(insert_trigger_replace, migrations.RunPython.noop)]
