"""Fewer indexes written per Delivery row (a million-row launch writes every one of them a million times).

The single-column indexes of `campaign` and `contact` are dropped: the unique (campaign, contact), the
(campaign, status, id) and the (contact, created_at) indexes serve their lookups; (campaign, status) is a
prefix of (campaign, status, id). `template` and `test_for_campaign` are null on queued rows: their indexes
become partial. The dropped indexes go by name (Django's, the same on SQLite and PostgreSQL) rather than by
AlterField, which on SQLite would rebuild the whole table four times.
"""

import django.db.models.deletion
from django.db import migrations, models

# (index name Django gave the foreign key's column, column)
FOREIGN_KEY_INDEXES = [
    ("deliveries_delivery_campaign_id_b6301652", "campaign_id"),
    ("deliveries_delivery_contact_id_0acee8af", "contact_id"),
    ("deliveries_delivery_template_id_5461bff6", "template_id"),
    ("deliveries_delivery_test_for_campaign_id_54cff5b8", "test_for_campaign_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_contact_import"),
        ("deliveries", "0008_webhook_drainer_lease"),
        ("templates_app", "0001_initial"),
        ("wacampaigns", "0004_campaign_click_target_url"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="delivery", name="delivery_campaign_status_idx"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}";',
                    reverse_sql=f'CREATE INDEX "{name}" ON "deliveries_delivery" ("{column}");',
                )
                for name, column in FOREIGN_KEY_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="campaign",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="wacampaigns.campaign",
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="contact",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deliveries",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="template",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The template version resolved at send time.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deliveries",
                        to="templates_app.messagetemplate",
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="test_for_campaign",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="A staff test send of this campaign's message.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="test_deliveries",
                        to="wacampaigns.campaign",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("template__isnull", False)), fields=["template"], name="delivery_template_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("test_for_campaign__isnull", False)),
                fields=["test_for_campaign"],
                name="delivery_test_for_campaign_idx",
            ),
        ),
    ]
