"""A fake WhatsApp Cloud API server speaking Meta's wire format; it imports nothing of the product.

Run it with `python manage.py simulate_cloud_api --port PORT` (or `python -m wacampaigns.simulator`).
Control endpoints: GET /_sim/messages[?since=N], GET /_sim/stats, GET|POST /_sim/config, POST /_sim/reset,
POST /_sim/inbound. The throughput and pair-rate limiters are defined exactly in `rate_limits`.
"""
