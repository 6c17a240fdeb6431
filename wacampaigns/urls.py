"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "wacampaigns"
admin.site.site_title = "wacampaigns"
admin.site.index_title = "WhatsApp campaigns"

# The webhook endpoint's include first: Meta's POSTs are most of the requests, and each pattern tried before the
# match costs a few microseconds of resolving.
urlpatterns = [
    path("", include("deliveries.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("contacts.urls")),
    path("", include("deliveries.api.urls")),
]
