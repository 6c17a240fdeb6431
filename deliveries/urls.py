"""Endpoints Meta and staff reach in the deliveries app (webhook receiver, dashboards)."""

app_name = "deliveries"
urlpatterns: list = []
