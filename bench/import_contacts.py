"""Benchmark: contact import of N new contacts then N updates, on SQLite and PostgreSQL, against
django-import-export's default row-by-row path (ContactResource.import_data) on the same file.

    .venv/bin/python bench/import_contacts.py [--rows 100000] [--baseline-rows 3000] [--skip-postgres]

Prints one JSON object. The baseline runs on the first --baseline-rows rows of the same file (it does
~500 rows/s, so the full file would take minutes) and is scaled to the full row count, as the JSON says.
Everything runs on loopback: a temporary SQLite file and a throwaway PostgreSQL server.
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
            out.write(f"{_phone(i, rng)},{variant} {i},{chosen},City {i % 50},plan-{variant}-{i % 3},"
                      f"{'yes' if i % 10 else 'no'},2024-0{1 + i % 9}-1{i % 10},web_form\n")


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def worker(args) -> dict:
    """Runs inside a fresh process whose DATABASE_URL points at the database under test."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wacampaigns.settings")
    django.setup()
    import tablib
    from django.core.management import call_command
    from django.db import connection

    from contacts.importing.services import contact_import_run
    from contacts.models import Contact
    from contacts.resources import ContactResource

    call_command("migrate", verbosity=0)
    figures = {}
    for label, path in (("create", args.create_file), ("update", args.update_file)):
        started = time.perf_counter()
        contact_import = contact_import_run(path=path, default_country="ES")
        elapsed = time.perf_counter() - started
        figures[f"{label}_seconds"] = round(elapsed, 2)
        figures[f"{label}_rows_per_second"] = round(contact_import.rows_read / elapsed)
        figures[f"{label}_contacts_created"] = contact_import.contacts_created
        figures[f"{label}_contacts_updated"] = contact_import.contacts_updated
        figures[f"{label}_row_errors"] = contact_import.rows_invalid
    figures["contacts"] = Contact.objects.count()
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
    figures["peak_rss_mb"] = _peak_rss_mb()
    return figures


def run_backend(database_url: str, args, files) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "true", "WACAMPAIGNS_IGNORE_DOTENV": "true",
           "LOG_LEVEL": "WARNING"}
    command = [sys.executable, __file__, "--worker", "--create-file", str(files[0]), "--update-file", str(files[1]),
               "--baseline-rows", str(args.baseline_rows)]
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
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--create-file")
    parser.add_argument("--update-file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    from tests.postgres_server import throwaway_postgres

    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        files = (Path(folder) / "create.csv", Path(folder) / "update.csv")
        write_file(files[0], args.rows, variant="first")
        write_file(files[1], args.rows, variant="second")
        results = {}
        if not args.skip_sqlite:
            results["sqlite"] = run_backend(f"sqlite:///{folder}/bench.sqlite3", args, files)
        if not args.skip_postgres:
            with throwaway_postgres() as database_url:
                results["postgres"] = run_backend(database_url, args, files)

    main_backend = results.get("postgres") or results["sqlite"]
    baseline_full = args.rows / main_backend["baseline_rows_per_second"]
    output = {
        "rows": args.rows,
        "cores": os.cpu_count(),
        "create_seconds_sqlite": results.get("sqlite", {}).get("create_seconds"),
        "update_seconds_sqlite": results.get("sqlite", {}).get("update_seconds"),
        "create_seconds_postgres": results.get("postgres", {}).get("create_seconds"),
        "update_seconds_postgres": results.get("postgres", {}).get("update_seconds"),
        "update_rows_per_second_postgres": results.get("postgres", {}).get("update_rows_per_second"),
        "baseline_seconds_postgres": round(baseline_full, 1) if "postgres" in results else None,
        "baseline_note": f"django-import-export row-by-row import_data measured on the first {args.baseline_rows} "
                         f"rows of the same file, scaled linearly to {args.rows} rows",
        "speedup": round(baseline_full / main_backend["create_seconds"], 1),
        "peak_rss_mb": max(result["peak_rss_mb"] for result in results.values()),
        "details": results,
    }
    print(json.dumps(output))


if __name__ == "__main__":
    main()
