"""Outbound event webhooks: message status changes, inbound replies and opt-outs/opt-ins, POSTed to subscribers.

Why a database-level outbox written by triggers (migration 0006) rather than signals or a periodic scan:

- Status updates arrive as set-based UPDATEs over VALUES lists (deliveries.webhooks.statuses) and claims as bulk
  SQL: no Django signal fires for them, and the sending and webhook code stays untouched.
- A trigger writes the event in the *same transaction* as the change: an event exists iff the change committed,
  and one UPDATE that jumps accepted → read writes `sent`, `delivered` and `read` events, in that order.
- A periodic scan of deliveries by a high-water mark on a timestamp would miss intermediate statuses and needs an
  index the hot queue does not want. The trigger costs one indexed lookup per status change, plus one INSERT only
  when an active subscription wants the event.

Dispatch (`dispatch`) is separate from intake: a slow or dead subscriber only delays its own cursor. Each
subscription reads the outbox in (transaction id, event id) order from its cursor and POSTs one event at a time,
so events reach it in order; a refused event is retried with exponential backoff, holding back the later ones,
for up to API_EVENTS_RETRY_HOURS, then abandoned (in the log) so that the stream flows again.

signing (HMAC-SHA256 over the raw body) · payloads (the JSON of each event kind) · dispatch (cursor, retries,
log) · tasks (the django-q2 entry points).
"""
