"""Fewer indexes written per raw WebhookEvent (every POST inserts one row, and the drainer updates it).

No hot query looks raw events up by app, by account or by time: the drainer and the retry go by the partial
(state, id) index, pruning walks the oldest ids (`reprocessing.webhook_events_prune`). The foreign keys stay
(integrity is in the schema); only their indexes go, so deleting a Meta app or a business account scans the
raw events once, which is rare. The foreign-key indexes go by name (Django's, the same on SQLite and
PostgreSQL) rather than by AlterField, which on SQLite would rebuild the table.
"""

import django.db.models.deletion
from django.db import migrations, models

# (index name Django gave the foreign key's column, column)
FOREIGN_KEY_INDEXES = [
    ("deliveries_webhookevent_meta_app_id_5a64c677", "meta_app_id"),
    ("deliveries_webhookevent_business_account_id_2462f0f7", "business_account_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0009_delivery_fewer_indexes"),
        ("wacampaigns", "0004_campaign_click_target_url"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="webhookevent", name="webhook_event_received_idx"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}";',
                    reverse_sql=f'CREATE INDEX "{name}" ON "deliveries_webhookevent" ("{column}");',
                )
                for name, column in FOREIGN_KEY_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="webhookevent",
                    name="meta_app",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="wacampaigns.metaapp",
                    ),
                ),
                migrations.AlterField(
                    model_name="webhookevent",
                    name="business_account",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The account it was routed to; empty while unrouted.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="webhook_events",
                        to="wacampaigns.businessaccount",
                    ),
                ),
            ],
        ),
    ]
