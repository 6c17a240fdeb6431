"""Per-key, per-minute request counts of the API rate limit when the cache is not Redis.

The database cache's `incr` is a read then a write, so concurrent requests on PostgreSQL overwrote each other's
counts; a row per key and minute is counted by one atomic upsert instead.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deliveries', '0012_delivery_cheaper_launch_writes'),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiKeyRequestCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('minute', models.PositiveIntegerField(help_text='Minutes since the Unix epoch.')),
                ('count', models.PositiveIntegerField()),
                ('api_key', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='request_counts', to='deliveries.apikey')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('api_key', 'minute'), name='api_key_request_count_unique')],
            },
        ),
    ]
