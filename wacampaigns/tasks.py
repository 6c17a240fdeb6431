"""django-q2 entry points of the campaigns: each takes ids and calls one service."""

from wacampaigns.models import Campaign, CampaignStatus
from wacampaigns.services import CampaignActionRefused, campaign_launch


def campaign_launch_scheduled(campaign_id: int) -> str:
    """The campaign's launch schedule fired: launch it if it is still scheduled."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SCHEDULED).first()
    if campaign is None:
        return "not scheduled any more"
    try:
        campaign_launch(campaign=campaign)
    except CampaignActionRefused as err:
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.DRAFT, pause_reason=f"Scheduled launch refused: {err}"
        )
        return f"refused: {err}"
    return "launched"
