"""Two indexes fewer on a Delivery row (a million-row launch writes a million of them).

- No single-column index on `sender`: every hot query by sender (claims, due work, ambiguous rows, the
  tier's unique recipients) names a status or an accepted_at that one of the (sender, …) partial indexes
  serves.
- One unique (contact, campaign) over all rows instead of the partial unique (campaign, contact) and the
  (contact, created_at) index: NULLs are distinct in a unique index, so rows without a campaign or contact
  never conflict, as before; contact first, it serves the lookups of a contact's deliveries as well.

On SQLite the changes rebuild the table (a one-off copy of the deliveries): as in 0012, the opt-out trigger
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
        ("contacts", "0002_contact_import"),
        ("deliveries", "0013_api_key_request_counts"),
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
        migrations.RemoveConstraint(
            model_name="delivery",
            name="delivery_once_per_campaign",
        ),
        migrations.RemoveIndex(
            model_name="delivery",
            name="delivery_contact_recent_idx",
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(fields=("contact", "campaign"), name="delivery_once_per_campaign"),
        ),
        # First when migrating backwards.
        migrations.RunPython(migrations.RunPython.noop, _drop_sqlite_opt_out_trigger),
    ]
