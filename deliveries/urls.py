"""Endpoints Meta and staff reach in the deliveries app (webhook receiver, dashboards)."""

from django.urls import path

from deliveries.webhooks.views import whatsapp_webhook

app_name = "deliveries"
urlpatterns: list = [
    path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp_webhook"),
]
