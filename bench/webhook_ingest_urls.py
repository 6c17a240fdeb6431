"""The product's URLs plus `/bench/bare/`: a view that only answers 200 (the baseline of webhook_ingest.py)."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare),
    path("", include("wacampaigns.urls")),
]
