"""Jobs from submit to results: the pipeline run as the worker runs it, observed through HTTP."""

from decimal import Decimal

import pytest

from enrichment.models import Job, JobRow
from enrichment.tasks import run_enrichment_job
from pricing.services import price_set
from tests.factories import make_company, make_person
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
CONTROL = "/api/v1/enrichment-control/"


def status_of(client, job_id):
    return client.get(f"/api/v1/enrichment/status/{job_id}/").json()


def results_of(client, job_id, **params):
    return client.get(f"/api/v1/enrichment/results/{job_id}/", params).json()


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "https://www.acme.com", industry="Software")
    jane = make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com",
                       contact_linkedin_url="https://www.linkedin.com/in/janedoe", job_title="VP Sales",
                       contact_mobile_phone="+15125550111")
    robert = make_person(company, "Robert", "Smith", contact_email="rsmith@acme.com", job_title="CTO",
                         job_level="C-level", job_function="Engineering", contact_mobile_phone="")
    return company, jane, robert


def submit(client, **body):
    response = client.post(SUBMIT, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def test_contact_job_is_enriched_and_results_carry_imports_status_and_provenance(api_client, alice, acme):
    job_id = submit(api_client, type="contact", level="standard",
                    fields_to_enrich=["contact_email", "job_title", "industry"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp",
                           "contact_linkedin_url": "https://www.linkedin.com/in/janedoe", "_internal": "x"},
                          {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"}])
    run_enrichment_job(job_id)

    status = status_of(api_client, job_id)
    assert status["status"] == "Enrichment Completed"
    assert status["progress"] == {"rows_total": 2, "rows_processed": 2, "percent": 100.0}
    assert status["field_stats"]["rows"] == {"enriched": 1, "partially_enriched": 0, "not_enriched": 1}
    assert status["field_stats"]["fields"]["contact_email"] == {"enriched": 1, "not_enriched": 1}
    stages = {entry["name"]: entry for entry in status["stages"]}
    assert stages["datacore"]["state"] == "done" and stages["datacore"]["rows_filled"] == 1
    assert stages["company_search"]["state"] == "skipped"

    rows = results_of(api_client, job_id)
    assert rows["count"] == 2 and rows["partial"] is False
    first, second = rows["results"]
    assert first["contact_email"] == "jane.doe@acme.com"
    assert first["job_title"] == "VP Sales" and first["industry"] == "Software"
    assert first["imported_first_name"] == "Jane"
    assert first["enrichment_status"] == "enriched" and first["enrichment_source"] == "datacore"
    assert first["match_confidence"] >= 90
    assert first["field_sources"]["contact_email"]["source"] == "datacore"
    assert first["field_sources"]["contact_email"]["last_seen"]
    assert not any(key.startswith("_") or key.startswith("imported__") for key in first)
    assert second["enrichment_status"] == "not_enriched" and second["contact_email"] == ""


def test_undelivered_rows_are_refunded_once_and_the_wallet_equals_its_ledger(api_client, alice, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["contact_mobile_phone"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                          {"first_name": "Robert", "last_name": "Smith", "company_website": "acme.com"},
                          {"contact_email": "nobody@nowhere.example"}])
    assert wallet_balance(user=alice) == Decimal("985")
    run_enrichment_job(job_id)
    run_enrichment_job(job_id)  # a redelivery finds nothing to do

    assert wallet_balance(user=alice) == Decimal("995")  # Robert has no phone, the third is unknown
    assert ledger_sum(user=alice) == wallet_balance(user=alice)
    refunds = LedgerEntry.objects.filter(job_id=job_id, kind="refund")
    assert sorted(refunds.values_list("note", flat=True)) == sorted([
        f"row {JobRow.objects.get(job_id=job_id, position=1).row_uid}: no_phone",
        f"row {JobRow.objects.get(job_id=job_id, position=2).row_uid}: not_found"])
    credits = status_of(api_client, job_id)["credits"]
    assert credits == {"estimated": "15", "charged": "15", "refunded": "10", "net": "5",
                       "refunds_by_reason": {"no_phone": {"rows": 1, "credits": "5"},
                                             "not_found": {"rows": 1, "credits": "5"}}}


def test_nickname_and_company_variants_match(api_client, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Bob", "last_name": "Smith", "company_name": "ACME Corporation, Inc."}])
    run_enrichment_job(job_id)
    assert results_of(api_client, job_id)["results"][0]["job_title"] == "CTO"


def test_a_mistyped_last_name_matches_when_the_company_agrees_and_not_elsewhere(api_client, acme):
    make_company("Other Co", "other.example")
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Robert", "last_name": "Smiht", "company_website": "https://acme.com"},
                          {"first_name": "Robert", "last_name": "Smiht", "company_website": "other.example"}])
    run_enrichment_job(job_id)
    assert [row["job_title"] for row in results_of(api_client, job_id)["results"]] == ["CTO", ""]


def test_a_recycled_email_with_a_different_name_is_not_matched_nor_charged(api_client, alice, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Maria", "last_name": "Gonzalez", "contact_email": "jane.doe@acme.com"}])
    run_enrichment_job(job_id)
    row = results_of(api_client, job_id)["results"][0]
    assert row["enrichment_status"] == "not_enriched" and row["job_title"] == ""
    assert wallet_balance(user=alice) == Decimal("1000")


def test_name_match_verification_withholds_a_source_answer_for_someone_else():
    from enrichment.pipeline.rows import WorkRow
    from enrichment.pipeline.spec import EnrichmentSpec
    from enrichment.pipeline.stages import NameMatchStage
    from sources.contacts import RowKeys

    spec = EnrichmentSpec(type="contact", level="standard", fields_to_enrich=("job_title",))
    rows = []
    for first, last in (("Bob", "Smith"), ("Maria", "Gonzalez")):
        record = {"first_name": first, "last_name": last, "contact_email": "r.smith@acme.com"}
        row = WorkRow(position=len(rows), row_uid="0" * 32, record=record, keys=RowKeys.from_record(record))
        row.person = {"first_name": "Robert", "last_name": "Smith"}
        row.fill("job_title", "CTO", source="bigquery")
        rows.append(row)
    NameMatchStage().run(spec, rows)
    assert rows[0].fills["job_title"].value == "CTO" and not rows[0].flags
    assert rows[1].fills == {} and rows[1].flags == ["name_mismatch"]
    assert NameMatchStage().skip_reason(spec) is None
    assert NameMatchStage().skip_reason(EnrichmentSpec(type="contact", level="quick", fields_to_enrich=())) == (
        "contact jobs at Standard or Pro only")


def test_opted_out_people_are_never_returned_nor_charged(api_client, alice):
    company = make_company("Quiet Inc", "quiet.io")
    make_person(company, "Sam", "Hidden", contact_email="sam@quiet.io", opted_out=True)
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                    data=[{"first_name": "Sam", "last_name": "Hidden", "company_website": "quiet.io"}])
    run_enrichment_job(job_id)
    row = results_of(api_client, job_id)["results"][0]
    assert row["contact_email"] == "" and row["compliance_restricted"] is True
    assert wallet_balance(user=alice) == Decimal("1000")


def test_min_confidence_withholds_weaker_matches_without_charge(api_client, alice, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"], min_confidence=100,
                    data=[{"first_name": "Bob", "last_name": "Smith", "company_name": "Acme"}])
    run_enrichment_job(job_id)
    row = results_of(api_client, job_id)["results"][0]
    assert row["enrichment_status"] == "not_enriched" and row["below_min_confidence"] is True
    assert wallet_balance(user=alice) == Decimal("1000")


def test_account_job_fills_firmographics_by_domain_and_fuzzy_name(api_client, alice, acme):
    make_company("Globex Corporation", "globex.com", industry="Manufacturing")
    job_id = submit(api_client, type="account", level="standard", fields_to_enrich=["industry", "company_hq_city"],
                    data=[{"company_website": "http://acme.com/about"}, {"company_name": "Globex Corp"},
                          {"company_name": "Globx Corp"}, {"company_name": "Nonexistent Widgets"}])
    run_enrichment_job(job_id)
    rows = results_of(api_client, job_id)["results"]
    assert [row["industry"] for row in rows] == ["Software", "Manufacturing", "Manufacturing", ""]
    assert rows[0]["match_confidence_level"] == "High"
    assert rows[2]["enrichment_source"] == "pg_trgm"
    # 4 rows at 1: the unknown one refunded, and Globex, named twice, paid for once
    assert wallet_balance(user=alice) == Decimal("998")
    assert [row["charge_reason"] for row in rows] == ["charged", "charged", "already_paid", "not_found"]


def test_account_criteria_expand_into_contacts_and_pay_per_contact_returned(api_client, alice, acme):
    company, _, _ = acme
    make_person(company, "Ann", "Lee", job_level="Director", job_function="Sales", job_title="Sales Director")
    make_person(company, "Tom", "Ray", job_level="Director", job_function="Marketing", job_title="Marketing Director")
    job_id = submit(api_client, type="account", level="standard",
                    fields_to_enrich=["industry", "first_name", "last_name", "job_title"],
                    criteria={"limit": 5, "job_level": ["Director", "VP"], "job_function": "Sales"},
                    data=[{"company_name": "Acme Corp", "company_website": "acme.com"}])
    assert wallet_balance(user=alice) == Decimal("995")
    run_enrichment_job(job_id)
    rows = results_of(api_client, job_id)["results"]
    assert sorted((row["first_name"], row["job_title"]) for row in rows) == [
        ("Ann", "Sales Director"), ("Jane", "VP Sales")]
    assert all(row["industry"] == "Software" and row["imported_company_name"] == "Acme Corp" for row in rows)
    assert wallet_balance(user=alice) == Decimal("998")  # 2 of 5 contacts returned
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_keyword_criteria_filter_contacts(api_client, acme):
    job_id = submit(api_client, type="account", level="standard", fields_to_enrich=["first_name"],
                    criteria={"limit": 3, "keyword": ["cto"]}, data=[{"company_website": "acme.com"}])
    run_enrichment_job(job_id)
    assert [row["first_name"] for row in results_of(api_client, job_id)["results"]] == ["Robert"]


def test_results_download_as_csv_with_formulas_escaped_and_xlsx_with_text_cells(api_client, acme):
    import io

    from openpyxl import load_workbook

    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "=HYPERLINK(\"x\")",
                           "contact_email": "jane.doe@acme.com"}])
    run_enrichment_job(job_id)
    csv_response = api_client.get(f"/api/v1/enrichment/results/{job_id}/", {"format": "csv"})
    assert csv_response["Content-Type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("job_title,imported_first_name")
    assert "'=HYPERLINK" in text and "VP Sales" in text
    xlsx = api_client.get(f"/api/v1/enrichment/results/{job_id}/", {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    values = [cell.value for cell in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert values[header.index("job_title")] == "VP Sales"
    company = next(sheet.iter_rows(min_row=2, max_row=2))[header.index("imported_company_name")]
    assert (company.value, company.data_type) == ('=HYPERLINK("x")', "s")


def test_results_paginate_in_input_order(api_client, alice, acme):
    data = [{"first_name": f"P{i}", "last_name": "Nobody", "company_name": "Acme Corp"} for i in range(25)]
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"], data=data)
    run_enrichment_job(job_id)
    page = results_of(api_client, job_id, page=2, page_size=10)
    assert page["count"] == 25 and page["next"] and page["previous"]
    assert [row["imported_first_name"] for row in page["results"]] == [f"P{i}" for i in range(10, 20)]


def test_results_of_a_running_job_are_partial(api_client, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}])
    page = results_of(api_client, job_id)
    assert page["count"] == 0 and page["partial"] is True and page["status"] == "Uploading"


def test_another_users_job_is_a_404(api_client, make_client, bob, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Jane", "last_name": "Doe"}])
    intruder = make_client(bob)
    for url in (f"/api/v1/enrichment/status/{job_id}/", f"/api/v1/enrichment/results/{job_id}/"):
        assert intruder.get(url).status_code == 404
        assert intruder.get(url).json() == {"error": "Job not found."}
    response = intruder.post(CONTROL, {"job_id": job_id, "action": "pause"}, format="json")
    assert response.status_code == 404
    assert api_client.get("/api/v1/enrichment/status/not-a-uuid/").status_code == 404


def test_status_list_is_newest_first_and_filters_by_record_count(api_client, make_client, bob):
    ids = [submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                  data=[{"first_name": "A"}] * n) for n in (1, 2, 3)]
    submit(make_client(bob), type="contact", level="standard", fields_to_enrich=["job_title"], data=[{"first_name": "B"}])
    listing = api_client.get("/api/v1/enrichment/status/").json()
    assert [job["job_id"] for job in listing["results"]] == ids[::-1]
    filtered = api_client.get("/api/v1/enrichment/status/", {"record_count": 2}).json()
    assert [job["job_id"] for job in filtered["results"]] == [ids[1]]
    assert api_client.get("/api/v1/enrichment/status/", {"created_after": "yesterday"}).status_code == 400


# --- pause and resume ------------------------------------------------------------------------

def test_pausing_a_queued_job_releases_its_credits_and_resume_recharges_at_current_rates(
        api_client, alice, acme, django_capture_on_commit_callbacks):
    price_set(name="repeat_free_days", value=Decimal("0"))  # every row is Jane: each pays, as rows of a job did
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}] * 4)
    assert wallet_balance(user=alice) == Decimal("992")
    response = api_client.post(CONTROL, {"job_id": job_id, "action": "pause"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "Paused"
    assert wallet_balance(user=alice) == Decimal("1000")
    run_enrichment_job(job_id)  # the queued message arrives: a paused job is not run
    assert status_of(api_client, job_id)["status"] == "Paused"

    price_set(name="standard_email_cost", value=Decimal("3"))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(CONTROL, {"job_id": job_id, "action": "resume"}, format="json")
    assert response.status_code == 200
    assert response.json()["charged_credits"] == "12"
    assert (response["X-Credits-Charged"], response["X-Credits-Remaining"]) == ("12", "988")
    assert wallet_balance(user=alice) == Decimal("988")
    run_enrichment_job(job_id)
    assert status_of(api_client, job_id)["status"] == "Enrichment Completed"
    assert wallet_balance(user=alice) == Decimal("988")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_pause_takes_effect_at_a_batch_boundary_and_resume_continues_from_the_checkpoint(
        api_client, alice, acme, settings, monkeypatch):
    settings.ENRICHMENT_BATCH_SIZE = 2
    price_set(name="repeat_free_days", value=Decimal("0"))  # every row is Jane: each pays, as rows of a job did
    from enrichment.pipeline import runner

    data = [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}] * 5
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"], data=data)
    original_save = runner._rows_save

    def save_then_request_pause(job, lease, spec, rows, log):
        original_save(job, lease, spec, rows, log)
        Job.objects.filter(job_id=job.job_id).update(pause_requested=True)

    monkeypatch.setattr(runner, "_rows_save", save_then_request_pause)
    run_enrichment_job(job_id)
    status = status_of(api_client, job_id)
    assert status["status"] == "Paused"
    assert status["checkpoint"]["rows_processed"] == 2
    assert wallet_balance(user=alice) == Decimal("996")  # 3 unprocessed rows released
    monkeypatch.setattr(runner, "_rows_save", original_save)

    assert api_client.post(CONTROL, {"job_id": job_id, "action": "resume"}, format="json").status_code == 200
    assert wallet_balance(user=alice) == Decimal("990")
    run_enrichment_job(job_id)
    assert status_of(api_client, job_id)["status"] == "Enrichment Completed"
    assert JobRow.objects.filter(job_id=job_id).count() == 5
    assert wallet_balance(user=alice) == Decimal("990")  # 5 delivered rows, each paid once
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_resume_without_a_valid_checkpoint_is_a_400(api_client, acme):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Jane"}])
    assert api_client.post(CONTROL, {"job_id": job_id, "action": "resume"}, format="json").status_code == 400
    api_client.post(CONTROL, {"job_id": job_id, "action": "pause"}, format="json")
    Job.objects.filter(job_id=job_id).update(checkpoint=None)
    response = api_client.post(CONTROL, {"job_id": job_id, "action": "resume"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "Cannot resume: the pause checkpoint is missing or invalid."}


def test_resume_with_a_short_wallet_is_a_402_and_stays_paused(make_user, make_client, acme):
    user = make_user("tight", credits=4)
    client = make_client(user)
    job_id = submit(client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                    data=[{"first_name": "Jane", "last_name": "Doe"}] * 2)
    client.post(CONTROL, {"job_id": job_id, "action": "pause"}, format="json")
    price_set(name="standard_email_cost", value=Decimal("5"))
    response = client.post(CONTROL, {"job_id": job_id, "action": "resume"}, format="json")
    assert response.status_code == 402
    assert response.json() == {"error": "You require 10 credits, but only 4 are available."}
    assert status_of(client, job_id)["status"] == "Paused"


def test_control_validates_its_input(api_client):
    response = api_client.post(CONTROL, {"job_id": "x", "action": "stop"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"job_id", "action"}


def test_a_job_that_keeps_killing_its_worker_fails_and_refunds(api_client, alice, acme, settings):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                    data=[{"first_name": "Jane", "last_name": "Doe"}] * 3)
    Job.objects.filter(job_id=job_id).update(attempts=settings.JOB_MAX_ATTEMPTS)
    run_enrichment_job(job_id)
    status = status_of(api_client, job_id)
    assert status["status"] == "Failure" and "abandoned" in status["failure"]["reason"]
    assert wallet_balance(user=alice) == Decimal("1000")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_the_sweep_enqueues_again_jobs_whose_message_was_lost_or_whose_worker_died(
        api_client, acme, queued_job_ids, redis_client):
    from datetime import timedelta

    from django.utils import timezone

    from enrichment.tasks import requeue_stale_jobs

    body = {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
            "data": [{"first_name": "Jane", "last_name": "Doe"}]}
    lost, fresh, dead_worker, live_worker, paused = (submit(api_client, **body) for _ in range(5))
    long_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(job_id__in=[lost, dead_worker, live_worker, paused]).update(queued_at=long_ago)
    Job.objects.filter(job_id=dead_worker).update(status="DataCore Lookup", lease_owner="gone:1",
                                                  lease_expires_at=long_ago)
    Job.objects.filter(job_id=live_worker).update(status="DataCore Lookup", lease_owner="busy:1",
                                                  lease_expires_at=timezone.now() + timedelta(minutes=5))
    Job.objects.filter(job_id=paused).update(status="Paused")

    assert requeue_stale_jobs() == 2
    assert sorted(queued_job_ids()) == sorted([lost, dead_worker])
    run_enrichment_job(lost)
    run_enrichment_job(dead_worker)
    assert status_of(api_client, lost)["status"] == status_of(api_client, dead_worker)["status"] == (
        "Enrichment Completed")


def test_the_status_list_rounds_credits_as_submit_does(api_client):
    price_set(name="standard_email_cost", value=Decimal("1.5"))
    response = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
                                        "data": [{"first_name": "A"}] * 3}, format="json")
    assert response.json()["estimated_credits"] == 5  # 4.5, half up
    listed = api_client.get("/api/v1/enrichment/status/").json()["results"][0]
    assert listed["estimated_credits"] == 5


def test_the_sweep_enqueues_a_job_whose_lease_ran_out_once_not_at_every_run(api_client, acme, queued_job_ids):
    from datetime import timedelta

    from django.utils import timezone

    from enrichment.tasks import requeue_stale_jobs

    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Jane", "last_name": "Doe"}])
    now = timezone.now()
    Job.objects.filter(job_id=job_id).update(status="DataCore Lookup", lease_owner="gone:1",
                                             queued_at=now - timedelta(seconds=30),
                                             lease_expires_at=now - timedelta(seconds=5))
    assert [requeue_stale_jobs(), requeue_stale_jobs()] == [1, 0]
    assert queued_job_ids() == [job_id]

    Job.objects.filter(job_id=job_id).update(queued_at=now - timedelta(hours=1))  # that message was lost too
    assert requeue_stale_jobs() == 1
