"""The campaign sending engine: the Delivery table is the queue, tasks are drivers that claim batches of rows.

materialization (audience → queued rows) · claiming (batches, slot leases) · rate_limit (shared token bucket)
· preparation (consent, hygiene, template and parameters at claim) · dispatch (HTTP with a thread pool)
· results (bulk writes, retries) · sender (the time-boxed loop) · maintenance (reaper, ambiguous rows,
completion) · controls (cancel, retry failed, test sends) · tasks (django-q2 entry points).
"""
