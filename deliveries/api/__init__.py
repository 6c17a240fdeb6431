"""The integration API under /api/v1/ (django-ninja): API keys, transactional sends with idempotency, contacts
and consent, and outbound event webhooks to subscribers.

models (keys, idempotency records, subscriptions, the event outbox and its delivery log) · keys (hashing,
authentication, per-key rate limits) · errors (typed errors → JSON bodies) · schemas (the OpenAPI shapes)
· messages / contacts (services) · views (the NinjaAPI) · events (outbox triggers, signing, dispatch).
"""
