"""URLs of the integration API: /api/v1/ (schema at /api/v1/openapi.json, docs at /api/v1/docs)."""

from django.urls import path

from deliveries.api.views import api

urlpatterns = [path("api/v1/", api.urls)]
