"""Endpoints Meta and staff reach in the deliveries app (webhook receiver, dashboards)."""

from django.urls import path

from deliveries.analytics import views as analytics
from deliveries.webhooks.views import whatsapp_webhook

app_name = "deliveries"
urlpatterns: list = [
    path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp_webhook"),
    path("dashboards/", analytics.overview, name="analytics_overview"),
    path("dashboards/campaigns/<int:campaign_id>/", analytics.campaign_dashboard, name="campaign_dashboard"),
    path(
        "dashboards/campaigns/<int:campaign_id>/data.json",
        analytics.campaign_dashboard_data,
        name="campaign_dashboard_data",
    ),
    path(
        "dashboards/campaigns/<int:campaign_id>/recipients/",
        analytics.campaign_recipients,
        name="campaign_recipients",
    ),
    path("dashboards/campaigns/<int:campaign_id>/export.csv", analytics.campaign_export, name="campaign_export"),
    path("t/<str:token>/", analytics.click_redirect, name="click"),
]
