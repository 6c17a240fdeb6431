"""Benchmark: the campaign dashboard page at 10k, 100k and 1M deliveries, on SQLite and PostgreSQL, beside a
naive per-request GROUP BY of the same numbers measured in the same run.

    .venv/bin/python bench/dashboard.py [--sizes 10000,100000,1000000] [--repeats 20] [--skip-postgres]

One campaign grows to each size (rows generated set-based: INSERT … SELECT over generate_series on PostgreSQL,
a recursive CTE on SQLite, in 100k-row statements, the analytics triggers firing as in production). At each
size, each of the `repeats` measurements follows a burst of status writes (4 UPDATEs of 50 rows delivered →
read, like webhook batches), then times:
- render_ms: GET of the whole dashboard page at its real URL through Django's test client (every middleware,
  session and permission check, the template rendered; no response caching), server time only;
- naive_ms: the fresh GROUP BY over the campaign's deliveries that gives the same numbers (no page around it);
- naive_status_group_by_ms: the bare `GROUP BY status` the issue quotes;
- drilldown_ms: a keyset page (50 rows) of read recipients from the middle of the campaign, whole page.
Medians in milliseconds. Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 100_000
BURST_STATEMENTS, BURST_ROWS = 4, 50


def _row_expressions(vendor: str, campaign_id: int, sender_id: int) -> dict[str, str]:
    """SQL per Delivery column for generated row number `g`: a realistic mix of outcomes over three hours."""
    if vendor == "postgresql":

        def at(seconds: str) -> str:
            return f"(TIMESTAMPTZ '2026-01-01 00:00:00+00' + make_interval(secs => {seconds}))"

    else:

        def at(seconds: str) -> str:
            return f"datetime('2026-01-01 00:00:00', '+' || ({seconds}) || ' seconds')"

    bucket = "(g % 100)"
    sent = at("g % 10800")
    return {
        "campaign_id": str(campaign_id),
        "sender_id": str(sender_id),
        "priority": "10",
        "template_name": "'autumn_sale'",
        "language": "'en_US'",
        "recipient": "'+34600' || g",
        "status": f"CASE WHEN {bucket} < 55 THEN 'read' WHEN {bucket} < 75 THEN 'delivered' "
        f"WHEN {bucket} < 85 THEN 'sent' WHEN {bucket} < 90 THEN 'failed' WHEN {bucket} < 95 THEN 'skipped' "
        "ELSE 'queued' END",
        "attempts": f"CASE WHEN {bucket} < 90 THEN 1 ELSE 0 END",
        "not_before": at("0"),
        "created_at": at("0"),
        "sent_at": f"CASE WHEN {bucket} < 85 THEN {sent} END",
        "delivered_at": f"CASE WHEN {bucket} < 75 THEN {at('g % 10800 + 5')} END",
        "read_at": f"CASE WHEN {bucket} < 55 THEN {at('g % 10800 + 60')} END",
        "failed_at": f"CASE WHEN {bucket} BETWEEN 85 AND 89 THEN {sent} END",
        "error_code": f"CASE WHEN {bucket} BETWEEN 85 AND 89 THEN "
        "CASE g % 3 WHEN 0 THEN 131026 WHEN 1 THEN 131049 ELSE 131053 END END",
        "skip_reason": f"CASE WHEN {bucket} BETWEEN 90 AND 94 THEN "
        "CASE g % 2 WHEN 0 THEN 'no_opt_in' ELSE 'opted_out' END ELSE '' END",
        "replied_at": f"CASE WHEN {bucket} < 3 THEN {at('g % 10800 + 90')} END",
        "clicked_at": f"CASE WHEN {bucket} BETWEEN 3 AND 6 THEN {at('g % 10800 + 95')} END",
        "click_count": f"CASE WHEN {bucket} BETWEEN 3 AND 6 THEN 1 ELSE 0 END",
    }


def _insert_sql(vendor: str, campaign_id: int, sender_id: int, first: int, last: int) -> str:
    from django.db import models

    from deliveries.models import Delivery

    expressions = _row_expressions(vendor, campaign_id, sender_id)
    columns, values = [], []
    for field in Delivery._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in expressions:
            values.append(expressions[field.column])
        elif field.null:
            values.append("NULL")
        elif isinstance(field, models.CharField | models.TextField):
            values.append("''")
        else:
            values.append("0")
    select = f"SELECT {', '.join(values)} FROM "  # noqa: S608
    if vendor == "postgresql":
        source = f"generate_series({first}, {last}) AS s(g)"
        return f"INSERT INTO deliveries_delivery ({', '.join(columns)}) {select}{source}"
    return (
        f"WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s WHERE g < {last}) "  # noqa: S608
        f"INSERT INTO deliveries_delivery ({', '.join(columns)}) {select}s"
    )


def _grow(campaign, sender, start: int, end: int) -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    for first in range(start + 1, end + 1, CHUNK):
        last = min(first + CHUNK - 1, end)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_insert_sql(connection.vendor, campaign.pk, sender.pk, first, last))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "ANALYZE deliveries_delivery")
    return time.perf_counter() - started


def _burst(campaign_id: int) -> None:
    """Webhook-like batches: delivered → read, each its own transaction."""
    from django.db import connection

    read_at = "now()" if connection.vendor == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    for _ in range(BURST_STATEMENTS):
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE deliveries_delivery SET status = 'read', read_at = {read_at} WHERE id IN ("  # noqa: S608
                "SELECT id FROM deliveries_delivery WHERE campaign_id = %s AND status = 'delivered' "
                "ORDER BY id LIMIT %s)",
                [campaign_id, BURST_ROWS],
            )


def _median_ms(action, campaign_id: int, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        _burst(campaign_id)
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def worker(sizes: list[int], repeats: int) -> dict:
    import django

    import tests.environment  # noqa: F401  (throwaway secrets, no .env)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wacampaigns.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from deliveries.analytics.counters import counter_rows_counted
    from deliveries.analytics.selectors import campaign_numbers_counted, campaign_numbers_stored
    from tests import factories

    call_command("migrate", verbosity=0)
    campaign = factories.campaign(name="Bench campaign")
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password")
    client = Client()
    client.force_login(user)
    dashboard = reverse("deliveries:campaign_dashboard", args=[campaign.pk])
    recipients = reverse("deliveries:campaign_recipients", args=[campaign.pk])

    def render():
        response = client.get(dashboard)
        assert response.status_code == 200, response.status_code

    def drilldown():
        response = client.get(recipients, {"metric": "read", "before": str(size // 2)})
        assert response.status_code == 200
        assert b'id="next-page"' in response.content

    def naive_status():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, count(*) FROM deliveries_delivery WHERE campaign_id = %s GROUP BY status", [campaign.pk]
            )
            cursor.fetchall()

    figures: dict = {"render_ms": {}, "naive_ms": {}, "naive_status_group_by_ms": {}, "drilldown_ms": {}}
    figures["generate_seconds"] = {}
    grown = 0
    for size in sizes:
        figures["generate_seconds"][str(size)] = round(_grow(campaign, campaign.sender, grown, size), 1)
        grown = size
        render()  # warm-up: templates compiled once per process, as in production
        figures["render_ms"][str(size)] = _median_ms(render, campaign.pk, repeats)
        figures["naive_ms"][str(size)] = _median_ms(
            lambda: counter_rows_counted(campaign_id=campaign.pk), campaign.pk, repeats
        )
        figures["naive_status_group_by_ms"][str(size)] = _median_ms(naive_status, campaign.pk, repeats)
        figures["drilldown_ms"][str(size)] = _median_ms(drilldown, campaign.pk, repeats)
        stored = campaign_numbers_stored(campaign_id=campaign.pk)
        assert stored == campaign_numbers_counted(campaign_id=campaign.pk)
        assert stored.targeted == size
    figures["vendor"] = connection.vendor
    return figures


def run_backend(database_url: str, args) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "DEBUG": "false"}
    command = [sys.executable, __file__, "--worker", "--sizes", args.sizes, "--repeats", str(args.repeats)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout, check=False)
    if completed.returncode:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.worker:
        print(json.dumps(worker(sizes, args.repeats)))
        return

    from tests.postgres_server import throwaway_postgres

    results = {}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
            results["sqlite"] = run_backend(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", args)
    if not args.skip_postgres:
        with throwaway_postgres() as database_url:
            results["postgres"] = run_backend(database_url, args)
    figures = ("render_ms", "naive_ms", "naive_status_group_by_ms", "drilldown_ms", "generate_seconds")
    output = {name: {database: result[name] for database, result in results.items()} for name in figures}
    output["cores"] = os.cpu_count()
    output["load_average"] = os.getloadavg()
    output["repeats"] = args.repeats
    output["note"] = (
        "render_ms: whole dashboard page through Django's test client right after a burst of status writes; "
        "naive_ms: the fresh GROUP BY giving the same numbers; medians"
    )
    print(json.dumps(output))


if __name__ == "__main__":
    main()
