"""Starts real Celery worker processes against the test database, for end-to-end tests."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection

from enrichment.models import Job, JobRow, PaidValue
from tests.conftest import TEST_QUEUE
from tests.factories import TESTER_FIRST_NAMES
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

ROOT = Path(__file__).resolve().parent.parent


def worker_env(**overrides) -> dict:
    database = settings.DATABASES["default"]
    url = f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    env = {
        **os.environ,
        "DATABASE_URL": f"{url}/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": TEST_QUEUE,
        "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", "ecore"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class Worker:
    """One worker process with a pool of one; `beat=True` also runs the beat schedule (`-B`), as the
    deployment's beat service does."""

    def __init__(self, name: str, log_dir: Path, *, beat: bool = False, **env_overrides):
        self.log_path = log_dir / f"{name}.log"
        beat_options = ["-B", "-s", str(log_dir / f"{name}-beat-schedule")] if beat else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ecore", "worker", "-Q", TEST_QUEUE, "--pool=prefork",
             "--concurrency=1", "--loglevel=INFO", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", *beat_options],
            cwd=ROOT, env=worker_env(**env_overrides), stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL to the whole process group: the pool child dies mid-task, nothing is acknowledged."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: "ready." in self.log(), timeout=timeout, interval=0.2, message=f"{self.log_path.stem} ready")


def wait_for(predicate, *, timeout: float, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def phone_job(*, known: int = 400, unknown: int = 100) -> dict:
    """A submit body for `known` people of the `datacore_people` fixture then `unknown` others: 5 credits a row,
    refunded for the unknown ones."""
    data = [{"first_name": TESTER_FIRST_NAMES[i % 50], "last_name": "Tester", "company_name": "Acme Corp"}
            for i in range(known)]
    data += [{"first_name": "Nobody", "last_name": f"Else{i}", "company_name": "Acme Corp"} for i in range(unknown)]
    return {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_mobile_phone"], "data": data}


def assert_every_row_once_and_charged_once(job_id, *, user, known: int = 400, unknown: int = 100,
                                           balance_before: Decimal) -> None:
    """A `phone_job` ended completed, whatever happened to its workers: each row saved once, the job charged
    once, each unknown row refunded once, each of the (at most 50) people paid for once, every other row naming
    one of them again refunded once as already paid, and the wallet equal to its ledger. A batch a worker lost
    recorded no payment, so the delivery that redid it paid for its people."""
    people = min(known, len(TESTER_FIRST_NAMES))
    job = Job.objects.get(job_id=job_id)
    assert job.status == "Enrichment Completed", (job.status, job.failure_reason)
    assert JobRow.objects.filter(job=job).count() == known + unknown
    assert JobRow.objects.filter(job=job, refund_due=0, already_paid=0).count() == people
    assert PaidValue.objects.filter(user=user).count() == people
    deductions = LedgerEntry.objects.filter(job=job, kind="deduction")
    assert [entry.amount for entry in deductions] == [Decimal(-5 * (known + unknown))]
    refunds = LedgerEntry.objects.filter(job=job, kind="refund")
    assert refunds.filter(reference__endswith=":not_found").count() == unknown
    assert refunds.filter(reference__endswith=":already_paid").count() == known - people
    assert refunds.count() == unknown + known - people
    assert wallet_balance(user=user) == balance_before - 5 * people
    assert ledger_sum(user=user) == wallet_balance(user=user)


def _database_backends(*, condition: str = "true", call: str = "true") -> list[int]:
    """The test database's sessions other than the test's own meeting `condition`, each passed to `call`
    (in the select list: PostgreSQL may evaluate a WHERE clause's terms in any order)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pid, {call} FROM pg_stat_activity WHERE datname = current_database() "
                       f"AND pid <> pg_backend_pid() AND {condition}")
        return [pid for pid, _ in cursor.fetchall()]


def other_backends() -> set[int]:
    """The sessions of the workers and of gunicorn."""
    return set(_database_backends())


def terminate_other_backends() -> set[int]:
    """What a failover or a restart does to every other session of the database; the pids it ended
    (waiting up to 5 s for each to be gone)."""
    return set(_database_backends(call="pg_terminate_backend(pid, 5000)"))


def a_backend_waits_on_a_lock() -> bool:
    return bool(_database_backends(condition="wait_event_type = 'Lock'"))


@contextmanager
def table_locked(model):
    """Holds an ACCESS EXCLUSIVE lock on the model's table from a connection of its own: whatever reads the
    table waits until the block ends (a batch as slow as the test wants), the other tables are free."""
    database = connection.settings_dict
    with psycopg.connect(dbname=database["NAME"], user=database["USER"] or "postgres",
                         password=database["PASSWORD"] or None, host=database["HOST"] or "127.0.0.1",
                         port=database["PORT"] or 5432) as locker:
        locker.execute(f"LOCK TABLE {model._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        yield
