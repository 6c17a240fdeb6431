"""Settings for bench/webhook_ingest.py: the product's settings, with a URLconf that adds a bare view.

Selected with DJANGO_SETTINGS_MODULE=bench.webhook_ingest_site, so the product keeps no benchmark routes.
"""

from wacampaigns.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook_ingest_urls"
