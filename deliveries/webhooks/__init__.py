"""Meta's webhooks: the endpoint, the durable raw log, and what each notification changes.

Modules: `views` (the endpoint), `ingestion` (handshake, signature, raw row first), `processing` (parse,
route, apply, record the outcome), `routing`, `statuses` (deliveries), `inbound` (messages, replies),
`consent` (keywords, buttons, Meta preferences), `account_events` (templates, numbers, accounts),
`reprocessing` (retry and pruning), `tasks` (django-q2 entry points).
"""
