"""PostgreSQL: the analytics trigger functions return at once for statements on rows without a campaign.

API and test sends count in no campaign's counters; their INSERTs and UPDATEs no longer take a counter shard's
lock or run the counter and timeline INSERTs (CREATE OR REPLACE of the three statement-level functions).
"""

from django.db import migrations

from deliveries.analytics.triggers import POSTGRESQL_STATEMENT_FUNCTIONS


def functions_replace(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_STATEMENT_FUNCTIONS:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("deliveries", "0010_webhook_event_fewer_indexes")]

    # Backwards, the functions stay as they are: they count exactly what the earlier ones counted.
    operations = [migrations.RunPython(functions_replace, migrations.RunPython.noop)]
