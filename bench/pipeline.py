"""Pipeline benchmark: 500-row jobs through the HTTP API on one Celery worker.

Loads a generated DataCore (100,000 companies and 1,000,000 people by default) into its own
database, starts one worker (concurrency 1) and the web server against it, submits 500-row jobs
of three kinds and prints, per kind, the time from submit to `Enrichment Completed`, rows per
second, and what each stage cost per 500 rows.

    .venv/bin/python bench/pipeline.py                    # full size (first run generates and imports)
    .venv/bin/python bench/pipeline.py --companies 10000 --people 100000 --database ecore_bench_small
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def manage(env, *args, capture=False):
    result = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True,
                            stdout=subprocess.PIPE if capture else None)
    return result.stdout.strip() if capture else None


def prepare_database(env, args):
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", args.database], stderr=subprocess.DEVNULL)
    manage(env, "migrate", "--noinput", "-v0")
    people = count_rows(args.database, "sources_person")
    if people >= args.people:
        print(f"DataCore already holds {people:,} people")
    else:
        load_datacore(env, args)
    if count_rows(args.database, "sources_linkedinsnapshot") == 0:
        manage(env, "import_snapshots", "--from-datacore")
    if env.get("BIGQUERY_EMULATOR_HOST") or env.get("BIGQUERY_ENABLED"):
        manage(env, "import_bigquery", "--from-datacore", str(args.bigquery_rows))


def count_rows(database, table) -> int:
    return int(subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", f"SELECT count(*) FROM {table}",
                               database], capture_output=True, text=True, check=True).stdout.strip())


def load_datacore(env, args):
    data_dir = ROOT / "var" / f"bench-{args.companies}-{args.people}"
    if not (data_dir / "people.csv").exists():
        started = time.monotonic()
        manage(env, "generate_demo_data", "--companies", str(args.companies), "--people", str(args.people),
               "--out", str(data_dir))
        print(f"generated {args.companies:,} companies and {args.people:,} people in {time.monotonic() - started:.0f}s")
    started = time.monotonic()
    manage(env, "import_datacore", "--companies", str(data_dir / "companies.csv"), "--people", str(data_dir / "people.csv"))
    print(f"imported DataCore in {time.monotonic() - started:.0f}s")


def psql(database, query) -> str:
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tA", "-F", "\t", "-c", query, database],
                          capture_output=True, text=True, check=True).stdout


def sample_people(env, database, count, seed):
    # About three times the people needed, whatever the DataCore's size (1% was too few below 300,000 people).
    people = int(psql(database, "SELECT count(*) FROM sources_person"))
    percent = min(100.0, max(0.01, 300.0 * count / max(people, 1)))
    rows = [line.split("\t") for line in psql(database, (
        "SELECT p.first_name, p.last_name, p.contact_email, c.company_name, c.company_website "
        f"FROM sources_person p TABLESAMPLE SYSTEM ({percent:.4f}) JOIN sources_company c ON c.id = p.company_id "
        f"LIMIT {count * 3}")).splitlines() if line]
    if len(rows) < count:
        raise SystemExit(f"DataCore has too few people for {count} rows ({len(rows)} sampled)")
    random.Random(seed).shuffle(rows)
    return rows[:count]


def contact_rows(people):
    records = []
    for index, (first, last, email, company, _) in enumerate(people):
        if index % 10 == 9:
            records.append({"first_name": f"Unknown{index}", "last_name": "Nobody", "company_name": "Absent Ltd"})
        elif index % 3 == 0 and email:
            records.append({"contact_email": email})
        else:
            records.append({"first_name": first, "last_name": last, "company_name": company})
    return records


def account_rows(people):
    return [{"company_name": company, "company_website": website if index % 2 else ""}
            for index, (_, _, _, company, website) in enumerate(people)]


JOB_KINDS = {
    "contact-standard": lambda people: {"type": "contact", "level": "standard",
                                        "fields_to_enrich": ["contact_email", "job_title", "industry"],
                                        "data": contact_rows(people)},
    "contact-with-phone": lambda people: {"type": "contact", "level": "standard",
                                          "fields_to_enrich": ["contact_mobile_phone", "contact_direct_phone", "job_title"],
                                          "data": contact_rows(people)},
    "account-with-criteria": lambda people: {"type": "account", "level": "standard",
                                             "fields_to_enrich": ["industry", "revenue_range", "first_name", "last_name",
                                                                  "job_title"],
                                             "criteria": {"limit": 3, "job_level": ["Director", "VP", "C-level"]},
                                             "data": account_rows(people)},
}


def run_job(client, body):
    started = time.monotonic()
    response = client.post("/api/v1/enrichment/submit/", json=body)
    if response.status_code != 200:
        raise SystemExit(f"submit answered {response.status_code}: {response.text[:500]}")
    job_id = response.json()["job_id"]
    while True:
        status = client.get(f"/api/v1/enrichment/status/{job_id}/").json()
        if status["status"] in ("Enrichment Completed", "Failure"):
            return time.monotonic() - started, status
        time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--database", default="ecore_bench")
    parser.add_argument("--jobs", type=int, default=3, help="jobs per kind")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--port", type=int, default=8041)
    parser.add_argument("--bigquery-rows", type=int, default=20_000,
                        help="DataCore people exported to BigQuery when BigQuery (or its emulator) is configured")
    args = parser.parse_args()

    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"), "CELERY_QUEUE": "ecore-bench",
           "DEBUG": "false", "SECRET_KEY": "bench-only-secret", "LOG_LEVEL": "ERROR"}
    prepare_database(env, args)
    token = manage(env, "create_api_token", "bench", capture=True)
    manage(env, "wallet_topup", "bench", "100000000", capture=True)
    manage(env, "set_plan", "bench", "--enrichment-limit", "500", capture=True)

    log_dir = ROOT / "var" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    worker = subprocess.Popen([PY, "-m", "celery", "-A", "ecore", "worker", "-Q", "ecore-bench", "--concurrency", "1",
                               "--loglevel", "WARNING"], cwd=ROOT, env=env,
                              stdout=(log_dir / "bench-worker.log").open("w"), stderr=subprocess.STDOUT)
    web = subprocess.Popen([str(Path(PY).parent / "gunicorn"), "ecore.wsgi", "-b", f"127.0.0.1:{args.port}", "-w", "2"],
                           cwd=ROOT, env=env, stdout=(log_dir / "bench-web.log").open("w"), stderr=subprocess.STDOUT)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{args.port}", headers={"Authorization": f"Bearer {token}"},
                              timeout=60)
        for _ in range(100):
            try:
                client.get("/api/schema/")
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        people = sample_people(env, args.database, args.rows * (args.jobs + 1), seed=1)
        run_job(client, JOB_KINDS["contact-standard"](people[:args.rows]))  # warm-up: caches, connections
        print(f"\n{'job kind':<24}{'rows':>6}{'median s':>10}{'max s':>8}{'rows/s':>9}  enriched/partial/none")
        stage_costs = {}
        for kind, build in JOB_KINDS.items():
            times, statuses = [], []
            for index in range(args.jobs):
                chunk = people[(index + 1) * args.rows:(index + 2) * args.rows]
                elapsed, status = run_job(client, build(chunk))
                times.append(elapsed)
                statuses.append(status)
            rows = statuses[-1]["field_stats"]["rows"]
            median = statistics.median(times)
            print(f"{kind:<24}{args.rows:>6}{median:>10.2f}{max(times):>8.2f}{args.rows / median:>9.0f}  "
                  f"{rows['enriched']}/{rows['partially_enriched']}/{rows['not_enriched']}")
            stage_costs[kind] = {entry["stage"]: entry.get("seconds", 0.0) for entry in statuses[-1]["stages"]
                                 if entry["state"] == "done"}
        print("\nseconds per stage for one 500-row job (last run of each kind):")
        for kind, costs in stage_costs.items():
            print(f"  {kind}: " + ", ".join(f"{stage} {seconds:.3f}" for stage, seconds in costs.items()))
    finally:
        web.terminate()
        worker.terminate()
        web.wait(timeout=20)
        worker.wait(timeout=20)


if __name__ == "__main__":
    main()
