"""Pre-aggregated campaign counters and per-minute timeline buckets, maintained by database triggers.

The triggers (migration `deliveries.0007_campaign_analytics`, SQL in `deliveries.analytics.triggers`) keep
these rows equal to a fresh count of `deliveries_delivery` at every commit. Rows are sharded: a dashboard
reads the sum of every shard of a key. Zero-count rows may remain; readers ignore them.
"""

from django.db import models

from wacampaigns.models import Campaign

__all__ = ["CampaignCounter", "CampaignTimelineBucket"]

NO_ERROR_CODE = -1


class CampaignCounter(models.Model):
    """How many deliveries of a campaign share one combination of the facts the dashboards count.

    `reached` is the furthest funnel step Meta reported, from the per-status timestamps: 0 none, 1 sent,
    2 delivered (a read message counts as delivered), 3 read. `error_code` is set for failed rows only
    (`NO_ERROR_CODE` otherwise, or when Meta gave none).
    """

    # No database constraint and no Django cascade: a trigger deletes a campaign's rows with the campaign.
    campaign = models.ForeignKey(Campaign, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    shard = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16)
    skip_reason = models.CharField(max_length=24, blank=True)
    error_code = models.IntegerField()
    reached = models.PositiveSmallIntegerField()
    replied = models.BooleanField()
    clicked = models.BooleanField()
    opted_out = models.BooleanField()
    count = models.BigIntegerField()

    class Meta:
        db_table = "deliveries_campaign_counter"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "campaign",
                    "shard",
                    "status",
                    "skip_reason",
                    "error_code",
                    "reached",
                    "replied",
                    "clicked",
                    "opted_out",
                ],
                name="campaign_counter_key",
            )
        ]

    def __str__(self):
        return f"campaign {self.campaign_id} {self.status}: {self.count}"


class CampaignTimelineBucket(models.Model):
    """Messages of a campaign that Meta reported sent, delivered and read within one minute (since the epoch)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    minute = models.BigIntegerField()
    shard = models.PositiveSmallIntegerField()
    sent = models.BigIntegerField(default=0)
    delivered = models.BigIntegerField(default=0)
    read = models.BigIntegerField(default=0)

    class Meta:
        db_table = "deliveries_campaign_timeline"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "minute", "shard"], name="campaign_timeline_key"),
        ]

    def __str__(self):
        return f"campaign {self.campaign_id} minute {self.minute}"
