from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "wacampaigns"
    verbose_name = "Campaigns and WhatsApp accounts"
