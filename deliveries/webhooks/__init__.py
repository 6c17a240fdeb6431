"""Meta's webhooks: the endpoint, the durable raw log, and what each notification changes.

Modules: `views` (the endpoint), `ingestion` (handshake, signature, the raw row stored pending, nothing
else), `draining` (the leased drainer that applies pending rows in batches, and how POSTs wake it),
`processing` (parse, route, apply, record the outcome: a batch, or one row), `routing`, `statuses`
(deliveries), `inbound` (messages, replies), `consent` (keywords, buttons, Meta preferences),
`account_events` (templates, numbers, accounts), `reprocessing` (retry and pruning), `tasks` (django-q2
entry points).
"""
