"""Benchmark: contact import of N new contacts then N updates, on SQLite and PostgreSQL, against
django-import-export's default row-by-row path (ContactResource.import_data) on the same file.

    .venv/bin/python bench/import_contacts.py [--rows 100000] [--baseline-rows 3000] [--skip-postgres]
    .venv/bin/python bench/import_contacts.py --million    # only 1,000,000 new contacts on PostgreSQL

Prints one JSON object. The baseline runs on the first --baseline-rows rows of the same file (it does
~500 rows/s, so the full file would take minutes) and is scaled to the full row count, as the JSON says;
--baseline-rows 0 skips it. Everything runs on loopback: a temporary SQLite file and a throwaway
PostgreSQL server. Each phase's seconds are in the details (store the upload, stage: read / check /
write, merge), with the load average before and after: the machines are shared.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _phone(i: int, rng: random.Random) -> str:
    national = f"6{i:08d}"
    style = i % 6
    if i % 500 == 499:
        return f"12{i % 1000}"  # invalid
    if style == 0:
        return f"+34{national}"
    if style == 1:
        return f"+34 {national[:3]} {national[3:6]} {national[6:]}"
    if style == 2:
        return f"0034-{national[:3]}-{national[3:5]}-{national[5:7]}-{national[7:]}"
    if style == 3:
        return f"({national[:3]}) {national[3:6]} {national[6:]}"
    if style == 4:
        return national
    return f"{national[:3]}.{national[3:6]}.{national[6:]}"


def write_file(path: Path, rows: int, *, variant: str) -> None:
    rng = random.Random(7)
    tags = ["vip", "madrid", "newsletter", "spring", "b2b"]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,name,tags,city,plan,opted_in,opt_in_date,consent_source\n")
        for i in range(rows):
            chosen = "|".join(rng.sample(tags, rng.randint(0, 2)))
            out.write(
                f"{_phone(i, rng)},{variant} {i},{chosen},City {i % 50},plan-{variant}-{i % 3},"
                f"{'yes' if i % 10 else 'no'},2024-0{1 + i % 9}-1{i % 10},web_form\n"
            )


def _peak_rss_mb() -> dict:
    """Peak resident memory of this process and of its largest child (a normalization pool process)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "peak_rss_mb": round(max(own, child), 1),
        "peak_rss_main_mb": round(own, 1),
        "peak_rss_largest_pool_process_mb": round(child, 1),
        # Forked pool processes share most pages with the main one: this sum overstates the total.
        "peak_rss_all_processes_upper_bound_mb": round(own + child * (os.cpu_count() or 1), 1),
    }


def _timed_import(path: str, label: str) -> dict:
    from contacts.importing.services import (
        contact_import_confirm,
        contact_import_create,
        contact_import_merge,
        contact_import_stage,
    )

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with open(path, "rb") as stream:
        contact_import = contact_import_create(file=stream, original_name=Path(path).name, default_country="ES")
    stored = time.perf_counter()
    contact_import_stage(contact_import=contact_import, timings=timings)
    staged = time.perf_counter()
    contact_import_confirm(contact_import=contact_import)
    contact_import_merge(contact_import=contact_import)
    elapsed = time.perf_counter() - started
    return {
        f"{label}_seconds": round(elapsed, 2),
        f"{label}_rows_per_second": round(contact_import.rows_read / elapsed),
        f"{label}_contacts_created": contact_import.contacts_created,
        f"{label}_contacts_updated": contact_import.contacts_updated,
        f"{label}_row_errors": contact_import.rows_invalid,
        f"{label}_store_file_seconds": round(stored - started, 2),
        f"{label}_stage_seconds": round(staged - stored, 2),
        # Inside staging, the main process reads the table and writes while the pool checks rows and
        # parses numbers: "check" is the time the main process waited for the pool.
        **{f"{label}_stage_{key}_seconds": round(value, 2) for key, value in timings.items()},
        f"{label}_merge_seconds": round(time.perf_counter() - staged, 2),
    }


def worker(args) -> dict:
    """Runs inside a fresh process whose DATABASE_URL points at the database under test."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wacampaigns.settings")
    django.setup()
    import tablib
    from django.core.management import call_command
    from django.db import connection

    from contacts.models import Contact
    from contacts.resources import ContactResource

    call_command("migrate", verbosity=0)
    figures = {}
    runs = [("create", args.create_file)] + ([] if args.skip_update else [("update", args.update_file)])
    for label, path in runs:
        figures.update(_timed_import(path, label))
    figures["contacts"] = Contact.objects.count()
    figures.update(_peak_rss_mb())  # before the baseline: its own memory is not ours
    if not args.baseline_rows:
        return figures
    # The baseline imports the same rows as new contacts: clear them first.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contact_tags")
        cursor.execute("DELETE FROM contacts_consentevent")
        cursor.execute("DELETE FROM contacts_contact")
    with open(args.create_file, encoding="utf-8") as stream:
        lines = [next(stream) for _ in range(args.baseline_rows + 1)]
    dataset = tablib.Dataset().load("".join(lines), format="csv")
    started = time.perf_counter()
    result = ContactResource(default_country="ES").import_data(dataset, dry_run=False, raise_errors=False)
    elapsed = time.perf_counter() - started
    figures["baseline_rows_measured"] = args.baseline_rows
    figures["baseline_seconds_measured"] = round(elapsed, 2)
    figures["baseline_rows_per_second"] = round(args.baseline_rows / elapsed)
    figures["baseline_row_errors"] = len(result.invalid_rows) + len(result.row_errors())
    return figures


def run_backend(database_url: str, args, files) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "true",
        "WACAMPAIGNS_IGNORE_DOTENV": "true",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--create-file",
        str(files[0]),
        "--update-file",
        str(files[1]),
        "--baseline-rows",
        str(args.baseline_rows),
        *(["--skip-update"] if args.skip_update else []),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout, check=False)
    if completed.returncode:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=3_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-update", action="store_true", help="Only the import of new contacts.")
    parser.add_argument(
        "--million", action="store_true", help="1,000,000 new contacts on PostgreSQL only, no update, no baseline."
    )
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--create-file")
    parser.add_argument("--update-file")
    args = parser.parse_args()
    if args.million:
        args.rows, args.baseline_rows, args.skip_sqlite, args.skip_update = 1_000_000, 0, True, True
    if args.worker:
        print(json.dumps(worker(args)))
        return

    from tests.postgres_server import throwaway_postgres

    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        files = (Path(folder) / "create.csv", Path(folder) / "update.csv")
        write_file(files[0], args.rows, variant="first")
        if not args.skip_update:
            write_file(files[1], args.rows, variant="second")
        results = {}
        load_before = os.getloadavg()
        if not args.skip_sqlite:
            results["sqlite"] = run_backend(f"sqlite:///{folder}/bench.sqlite3", args, files)
        if not args.skip_postgres:
            with throwaway_postgres() as database_url:
                results["postgres"] = run_backend(database_url, args, files)

    main_backend = results.get("postgres") or results["sqlite"]
    baseline_full = args.rows / main_backend["baseline_rows_per_second"] if args.baseline_rows else None
    output = {
        "rows": args.rows,
        "cores": os.cpu_count(),
        "create_seconds_sqlite": results.get("sqlite", {}).get("create_seconds"),
        "update_seconds_sqlite": results.get("sqlite", {}).get("update_seconds"),
        "create_seconds_postgres": results.get("postgres", {}).get("create_seconds"),
        "update_seconds_postgres": results.get("postgres", {}).get("update_seconds"),
        "update_rows_per_second_postgres": results.get("postgres", {}).get("update_rows_per_second"),
        "baseline_seconds_postgres": round(baseline_full, 1) if baseline_full and "postgres" in results else None,
        "baseline_note": f"django-import-export row-by-row import_data measured on the first {args.baseline_rows} "
        f"rows of the same file, scaled linearly to {args.rows} rows",
        "speedup": round(baseline_full / main_backend["create_seconds"], 1) if baseline_full else None,
        "peak_rss_mb": max(result["peak_rss_mb"] for result in results.values()),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "details": results,
    }
    print(json.dumps(output))


if __name__ == "__main__":
    main()
