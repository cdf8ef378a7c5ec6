#!/usr/bin/env python3
"""Smoke-check the local Google Cloud emulators with the real client libraries.

    python scripts/check_emulators.py              # both
    python scripts/check_emulators.py firestore    # or: bigquery

Prints one ``OK``/``FAIL`` line per emulator (plus the failing step) and exits
non-zero if any check failed.

Firestore: writes a document with google-cloud-firestore and reads it back.
  Endpoint: $FIRESTORE_EMULATOR_HOST (default 127.0.0.1:8085).
BigQuery: creates a dataset and a table, inserts rows (streaming insert), runs
  a parameterized query with ``UNNEST(@keys)`` and checks the answer, then
  deletes the dataset. Uses google-cloud-bigquery with
  ``ClientOptions(api_endpoint=...)`` and ``AnonymousCredentials()``.
  Endpoint: $BIGQUERY_EMULATOR_HOST (default http://127.0.0.1:9050).
"""

from __future__ import annotations

import os
import sys
import time
import uuid

PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "ecore-local")


def check_firestore() -> str:
    os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8085")
    from google.cloud import firestore

    # With FIRESTORE_EMULATOR_HOST set the client uses emulator credentials.
    db = firestore.Client(project=PROJECT)
    doc = db.collection("smoke_checks").document(uuid.uuid4().hex)
    payload = {"name": "Acme GmbH", "domains": ["acme.example"], "n": 3}
    doc.set(payload)
    try:
        got = doc.get(timeout=10)
        if not got.exists or got.to_dict() != payload:
            raise AssertionError(f"read back {got.to_dict()!r}, wrote {payload!r}")
    finally:
        doc.delete()
    return os.environ["FIRESTORE_EMULATOR_HOST"]


def bigquery_endpoint() -> str:
    endpoint = os.environ.get("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:9050")
    if "://" not in endpoint:  # bqemulator's own pytest fixture sets host:port
        endpoint = "http://" + endpoint
    return endpoint


def check_bigquery() -> str:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    endpoint = bigquery_endpoint()
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )
    dataset_id = f"{PROJECT}.smoke_{uuid.uuid4().hex[:8]}"
    client.create_dataset(dataset_id)
    try:
        table = client.create_table(
            bigquery.Table(
                f"{dataset_id}.companies",
                schema=[
                    bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
                    bigquery.SchemaField("name", "STRING"),
                    bigquery.SchemaField("employees", "INT64"),
                ],
            )
        )
        errors = client.insert_rows_json(
            table,
            [
                {"key": "acme.example", "name": "Acme", "employees": 120},
                {"key": "globex.example", "name": "Globex", "employees": 40},
                {"key": "initech.example", "name": "Initech", "employees": 9},
            ],
        )
        if errors:
            raise AssertionError(f"insert_rows_json errors: {errors}")
        job = client.query(
            f"SELECT key, employees FROM `{table.full_table_id.replace(':', '.')}` "
            "WHERE key IN UNNEST(@keys) AND employees >= @min_employees ORDER BY key",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[
                    bigquery.ArrayQueryParameter(
                        "keys", "STRING", ["acme.example", "initech.example", "nope.example"]
                    ),
                    bigquery.ScalarQueryParameter("min_employees", "INT64", 1),
                ]
            ),
        )
        rows = [(r["key"], r["employees"]) for r in job.result(timeout=30)]
        expected = [("acme.example", 120), ("initech.example", 9)]
        if rows != expected:
            raise AssertionError(f"query returned {rows!r}, expected {expected!r}")
    finally:
        client.delete_dataset(dataset_id, delete_contents=True, not_found_ok=True)
    return endpoint


CHECKS = {"firestore": check_firestore, "bigquery": check_bigquery}


def main(argv: list[str]) -> int:
    names = argv or list(CHECKS)
    failed = 0
    for name in names:
        check = CHECKS.get(name)
        if check is None:
            print(f"FAIL {name}: unknown emulator (choose from {', '.join(CHECKS)})")
            failed += 1
            continue
        start = time.monotonic()
        try:
            where = check()
        except Exception as exc:  # noqa: BLE001 - report any failure as FAIL
            failed += 1
            msg = str(exc).splitlines()[0] if str(exc) else ""
            print(f"FAIL {name}: {type(exc).__name__}: {msg[:300]}")
        else:
            print(f"OK   {name} ({where}, {time.monotonic() - start:.1f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
