"""Results in Firestore: 300-row chunk documents under the job's summary, one commit when it fits, rewrites
that never duplicate, and an outage that still completes the job.

The emulator tests run when FIRESTORE_EMULATOR_HOST is set (scripts/start_emulators firestore).
"""

import os
import socket
from decimal import Decimal

import pytest
from django.utils import timezone
from google.cloud.firestore_v1.batch import WriteBatch

from enrichment.models import Job
from enrichment.pipeline import sinks
from enrichment.pipeline.sinks import _commit_groups, _Write, results_sink
from enrichment.selectors import job_result_rows
from enrichment.tasks import run_enrichment_job
from sources.firestore import firestore_client
from sources.models import Person
from tests.emulators import firestore_emulator_host
from tests.factories import make_company
from tests.test_pipeline import status_of, submit
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db



@pytest.fixture
def firestore_db(settings):
    settings.FIRESTORE_EMULATOR_HOST = firestore_emulator_host()
    settings.FIRESTORE_PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "ecore-local")
    return firestore_client()


@pytest.fixture
def commits(monkeypatch):
    """Counts Firestore commits; each still goes to the emulator."""
    counted = []
    commit = WriteBatch.commit

    def counting_commit(batch, *args, **kwargs):
        counted.append(len(batch))
        return commit(batch, *args, **kwargs)

    monkeypatch.setattr(WriteBatch, "commit", counting_commit)
    return counted


@pytest.fixture
def funded_client(make_user, make_client):
    return make_client(make_user("carol", credits=5000))


def stage_log_of(client, job_id) -> dict:
    return {entry["name"]: entry for entry in status_of(client, job_id)["stages"]}


def company_with_staff(count: int):
    company = make_company("Initech", "initech.com", industry="Software")
    seen = timezone.now()
    Person.objects.bulk_create([
        Person(source_key=f"n:initech|{n}", company=company, first_name=f"Peter{n}", last_name="Gibbons",
               first_norm=f"peter{n}", last_norm="gibbons", job_title="Engineer", job_level="Staff",
               job_function="Engineering", company_name_norm=company.name_norm,
               company_domain_norm=company.domain_norm, last_seen_at=seen)
        for n in range(count)])
    return company


def stored_chunks(db, job_id) -> dict[str, dict]:
    results = db.collection("enrichment_jobs").document(job_id).collection("results")
    return {snapshot.id: snapshot.to_dict() for snapshot in results.stream()}


def test_a_650_row_result_is_three_chunks_in_one_commit_and_rewriting_never_duplicates(firestore_db, funded_client,
                                                                                      commits, monkeypatch):
    company_with_staff(650)
    job_id = submit(funded_client, type="account", level="standard", fields_to_enrich=["first_name", "industry"],
                    criteria={"limit": 650}, data=[{"company_website": "initech.com", "_crm_id": "internal-7"}])
    run_enrichment_job(job_id)

    status = status_of(funded_client, job_id)
    assert status["status"] == "Enrichment Completed"
    sink_stage = stage_log_of(funded_client, job_id)["results_sink"]
    assert sink_stage["state"] == "done" and sink_stage["source"] == "firestore"
    assert sink_stage["rows_filled"] == 650 and sink_stage["stage"] == "Saving Results"
    assert commits == [4]  # three chunks and the summary, together

    columns, rows = job_result_rows(Job.objects.get(job_id=job_id))
    summary = firestore_db.collection("enrichment_jobs").document(job_id).get().to_dict()
    assert summary["status"] == "Enrichment Completed" and summary["chunk_count"] == 3
    assert summary["counts"] == {"record_count": 1, "rows_processed": 1, "result_rows": 650}
    assert summary["field_stats"] == status["field_stats"]
    assert summary["columns"] == columns and summary["rows_per_chunk"] == 300
    assert summary["updated_at"] is not None

    chunks = stored_chunks(firestore_db, job_id)
    assert sorted(chunks) == ["0000", "0001", "0002"]
    assert [(chunks[i]["chunk"], chunks[i]["row_count"], len(chunks[i]["rows"])) for i in sorted(chunks)] == [
        (0, 300, 300), (1, 300, 300), (2, 50, 50)]
    stored = [row for chunk_id in sorted(chunks) for row in chunks[chunk_id]["rows"]]
    assert stored == rows
    assert stored[0]["industry"] == "Software" and stored[0]["imported_company_website"] == "initech.com"
    assert not any(key.startswith("_") or key.startswith("imported__") for row in stored for key in row)

    results = firestore_db.collection("enrichment_jobs").document(job_id).collection("results")
    results.document("0003").set({"chunk": 3, "rows": [{"first_name": "stale"}], "row_count": 1})
    results.document("0009").set({"chunk": 9, "rows": [], "row_count": 0})
    # A commit budget too small for two writes: the rewrite must split and still land whole.
    monkeypatch.setattr(sinks, "MAX_BYTES_PER_COMMIT", 1)
    commits.clear()
    assert results_sink().write_job_results(Job.objects.get(job_id=job_id)) == 650

    assert commits == [1] * 6  # three chunks, two deletes, then the summary: one write per commit
    assert stored_chunks(firestore_db, job_id) == chunks
    rewritten = firestore_db.collection("enrichment_jobs").document(job_id).get().to_dict()
    assert rewritten["chunk_count"] == 3 and rewritten["counts"]["result_rows"] == 650
    assert rewritten["updated_at"] >= summary["updated_at"]


def test_commits_stay_within_firestore_limits():
    small = [_Write(None, {"rows": ["x" * 10]}) for _ in range(1200)]
    groups = _commit_groups(small)
    assert [len(group) for group in groups] == [500, 500, 200]

    large = [_Write(None, {"rows": ["x" * (900 * 1024)]}) for _ in range(20)]  # ~0.9 MiB chunks
    groups = _commit_groups(large)
    assert sum(len(group) for group in groups) == 20 and len(groups) == 3
    assert all(sum(write.estimated_bytes for write in group) <= sinks.MAX_BYTES_PER_COMMIT for group in groups)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_firestore_outage_is_logged_on_the_stage_and_the_job_still_completes(api_client, alice, settings,
                                                                               monkeypatch):
    make_company("Acme Corp", "acme.com", industry="Software")
    down = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", down)
    settings.FIRESTORE_EMULATOR_HOST, settings.FIRESTORE_PROJECT = down, "ecore-local"
    settings.FIRESTORE_TIMEOUT_SECONDS = 0.5
    job_id = submit(api_client, type="account", level="standard", fields_to_enrich=["industry"],
                    data=[{"company_website": "acme.com"}])
    run_enrichment_job(job_id)

    status = status_of(api_client, job_id)
    assert status["status"] == "Enrichment Completed"
    sink_stage = {entry["name"]: entry for entry in status["stages"]}["results_sink"]
    assert sink_stage["state"] == "failed" and sink_stage["source"] == "firestore"
    assert sink_stage["detail"].startswith("failed: ") and sink_stage["rows_filled"] == 0
    rows = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert [row["industry"] for row in rows] == ["Software"]
    assert status["credits"]["net"] == "1"
    assert wallet_balance(user=alice) == Decimal("999")


def test_without_firestore_configured_the_stage_is_skipped(api_client, settings):
    settings.FIRESTORE_EMULATOR_HOST, settings.FIRESTORE_ENABLED = "", False
    assert results_sink() is None
    make_company("Acme Corp", "acme.com")
    job_id = submit(api_client, type="account", level="standard", fields_to_enrich=["industry"],
                    data=[{"company_website": "acme.com"}])
    run_enrichment_job(job_id)
    assert stage_log_of(api_client, job_id)["results_sink"]["state"] == "skipped"
