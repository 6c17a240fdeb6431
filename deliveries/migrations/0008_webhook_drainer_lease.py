"""The webhook drainer's lease: one row saying which drainer works and until when (deliveries.webhooks.draining)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0007_campaign_analytics"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookDrainerLease",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                (
                    "holder",
                    models.UUIDField(
                        blank=True, help_text="The run token of the drainer holding the lease.", null=True
                    ),
                ),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "kicked_at",
                    models.DateTimeField(blank=True, help_text="When a drainer task was last enqueued.", null=True),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="webhook_drainer_lease_singleton")
                ],
            },
        ),
    ]
