"""Every lookup query runs under LOOKUP_STATEMENT_TIMEOUT_MS: a query that runs longer fails its stage,
never the job, and frees its PostgreSQL backend.

The web and worker processes set the timeout on each connection they open (as conftest does for the
tests); a slow query is made deterministic by another connection holding an exclusive lock on the table a
lookup reads, so the lookup waits until PostgreSQL cancels it. A cancelled statement aborts the
transaction it ran in, so the tests that let one happen run as the service does, in autocommit.
"""

import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings

from enrichment.models import Job
from enrichment.tasks import run_enrichment_job
from sources.contacts import SourceUnavailable
from sources.models import Person, Suppression
from sources.sql import select_dicts
from tests.worker import worker_env
from wallet.selectors import ledger_sum, wallet_balance

SUBMIT = "/api/v1/enrichment/submit/"
PHONE = "/api/v1/external/phone/enrichment/"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def short_timeout():
    """Connections opened during the test cancel statements after 200 ms."""
    with override_settings(LOOKUP_STATEMENT_TIMEOUT_MS=200):
        connection.close()
        yield
    connection.close()


@contextmanager
def table_locked(model):
    """`model`'s table locked by another session, as a long-running statement would hold it."""
    params = connection.get_connection_params()
    with psycopg.connect(**{key: value for key, value in params.items() if key != "cursor_factory"}) as other:
        other.execute(f"LOCK TABLE {model._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            other.rollback()


def statement_timeouts_in_a_new_process(code: str) -> list[str]:
    """What `SHOW statement_timeout` says on a new connection after each `# ---` section of `code`."""
    show = ("from django.db import connection\nconnection.close()\nwith connection.cursor() as cursor:\n"
            "    cursor.execute('SHOW statement_timeout')\n    print('timeout', cursor.fetchone()[0])\n")
    script = "".join(section + "\n" + show for section in code.split("# ---"))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=worker_env(), capture_output=True,
                            text=True, timeout=120, check=True)
    return [line.split()[1] for line in result.stdout.splitlines() if line.startswith("timeout ")]


@pytest.mark.django_db
def test_web_and_worker_connections_have_the_timeout_and_other_processes_do_not():
    assert statement_timeouts_in_a_new_process("import ecore.wsgi") == ["30s"]
    # manage.py's imports and migrations may rightly run statements for minutes; a worker's may not.
    assert statement_timeouts_in_a_new_process(
        "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'ecore.settings'\nimport django\ndjango.setup()\n"
        "# ---\nfrom celery.signals import worker_init\nfrom ecore.celery import app\nworker_init.send(sender=app)"
    ) == ["0", "30s"]


@pytest.mark.django_db
def test_a_lookup_postgresql_cancels_raises_source_unavailable():
    with pytest.raises(SourceUnavailable) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 50")
        select_dicts("SELECT pg_sleep(5)", [], source="datacore")
    assert (caught.value.source, caught.value.reason) == ("datacore", "lookup cancelled after 30000 ms")
    assert Job.objects.count() == 0  # the transaction goes on once the cancelled statement's is rolled back


@pytest.mark.django_db(transaction=True)
def test_a_stage_whose_lookup_times_out_fails_on_the_stage_log_and_the_job_completes(api_client, alice,
                                                                                     short_timeout):
    response = api_client.post(SUBMIT, {
        "type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}]}, format="json")
    job_id = response.json()["job_id"]
    with table_locked(Person):
        run_enrichment_job(job_id)

    job = Job.objects.get(job_id=job_id)
    assert job.status == "Enrichment Completed" and job.rows_processed == 1
    datacore = next(stage for stage in job.stage_log if stage["name"] == "datacore")
    assert (datacore["state"], datacore["source"], datacore["detail"]) == (
        "failed", "datacore", "lookup cancelled after 200 ms")
    assert wallet_balance(user=alice) == Decimal("1000") == ledger_sum(user=alice)  # the row was refunded


@pytest.mark.django_db(transaction=True)
def test_a_single_lookup_whose_source_times_out_is_not_found_and_free(make_user, make_client, short_timeout):
    user = make_user("hundred", credits=100)
    client = make_client(user)
    with table_locked(Person):
        response = client.post(PHONE, {"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                               format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "not_found"
    assert wallet_balance(user=user) == Decimal("100")


@pytest.mark.django_db(transaction=True)
def test_a_suppression_check_that_times_out_is_a_503_not_an_unchecked_answer(make_user, make_client, short_timeout):
    user = make_user("hundred", credits=100)
    client = make_client(user)
    with table_locked(Suppression):
        response = client.post(PHONE, {"email": "jane.doe@acme.com"}, format="json")
    assert response.status_code == 503
    assert response.json() == {"error": "A data source did not answer. Try again later."}
    assert wallet_balance(user=user) == Decimal("100")
