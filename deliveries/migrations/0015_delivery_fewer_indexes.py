"""One index fewer on a Delivery row (a million-row launch writes a million of them).

No single-column index on `sender`: every hot query by sender (claims, due work, ambiguous rows, the tier's
unique recipients) names a status or an accepted_at that one of the (sender, …) partial indexes serves.

On SQLite the change rebuilds the table (a one-off copy of the deliveries): as in 0012, the opt-out trigger
of the consent events, which names the deliveries table and would stop its rename, goes first, and
`analytics_triggers_after_migrate` puts back every analytics trigger after `migrate`, with a recount.
"""

import django.db.models.deletion
from django.db import migrations, models


def _drop_sqlite_opt_out_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS deliveries_analytics_opt_out;")


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0014_analytics_materializer_counts_its_rows"),
        ("wacampaigns", "0004_campaign_click_target_url"),
    ]

    operations = [
        migrations.RunPython(_drop_sqlite_opt_out_trigger, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="delivery",
            name="sender",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deliveries",
                to="wacampaigns.phonenumber",
            ),
        ),
        # First when migrating backwards.
        migrations.RunPython(migrations.RunPython.noop, _drop_sqlite_opt_out_trigger),
    ]
