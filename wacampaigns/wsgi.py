"""WSGI entry point (gunicorn wacampaigns.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wacampaigns.settings")
application = get_wsgi_application()
