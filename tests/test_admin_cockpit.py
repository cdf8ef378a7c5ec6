"""The operators' admin: a job's page, the job list, readable names and the dashboard (through Django's client;
tests/test_browser.py looks at the same pages in Chromium)."""

import re
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ecore.charts import nice_ceiling
from enrichment.models import Job, JobRow, JobStatus, WebhookDelivery
from enrichment.selectors import fill_rate_by_source, jobs_per_day
from wallet.models import LedgerEntry
from wallet.selectors import credits_per_day

pytestmark = pytest.mark.django_db


def test_a_job_page_shows_status_credits_and_stages_as_tables_with_the_input_folded_last(admin_client, finished_job):
    page = admin_client.get(f"/admin/enrichment/job/{finished_job.pk}/change/").content.decode()

    assert "Enrichment Completed" in page and "3 of 3 rows (100.0%)" in page
    credits = {name: re.search(rf'field-{name}">.*?<div class="readonly">([^<]*)</div>', page, re.S).group(1)
               for name in ("estimated_credits", "credits_charged", "credits_refunded", "credits_net")}
    assert credits == {"estimated_credits": "15.0000", "credits_charged": "15", "credits_refunded": "10",
                       "credits_net": "5"}
    assert '<td>contact_email</td><td class="numeric">2</td><td class="numeric">1</td><td class="numeric">67%</td>' in page
    assert ("<td>DataCore Lookup</td><td>datacore</td><td>done</td><td>datacore</td><td></td>"
            '<td class="numeric">2</td>') in page
    assert "Snowflake is not configured" in page
    assert "hooks.example.com" in page and "HTTP 500" in page
    # The input comes after the status, the stages and the rows, folded.
    assert page.index("Enrichment Completed") < page.index("Stages") < page.index('id="job-input"')
    assert page.index("webhook_deliveries-group") < page.index('id="job-rows"') < page.index('id="job-input"')
    assert re.search(r'id="job-input"[^>]*>\s*<details>\s*<summary>.*Input: 3 records', page, re.S)
    assert escape('{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}') in page
    assert "JobRow object" not in page and "row 1 of job " in page
    assert ("<td>Partial</td><td>job_title (datacore), contact_email (datacore)</td><td>no_phone</td>"
            '<td class="numeric">5</td><td class="numeric">5</td>') in page


def test_the_ledger_link_of_a_job_lists_that_jobs_entries_only(admin_client, finished_job, make_client, alice):
    other = make_client(alice).post("/api/v1/enrichment/submit/", {
        "type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}]}, format="json")
    assert other.status_code == 200
    page = admin_client.get(f"/admin/enrichment/job/{finished_job.pk}/change/").content.decode()
    link = re.search(r'<a href="([^"]+)" id="job-ledger-link">This job.s 3 ledger entries</a>', page).group(1)

    ledger = admin_client.get(link.replace("&amp;", "&"))
    assert ledger.status_code == 200
    entries = list(ledger.context["cl"].result_list)
    assert {entry.job_id for entry in entries} == {finished_job.pk}
    assert sorted(str(entry).split(" · ")[1] for entry in entries) == ["no_phone", "not_found", "submit"]


def test_a_failed_job_shows_its_failure(admin_client, finished_job):
    Job.objects.filter(pk=finished_job.pk).update(status=JobStatus.FAILURE, failure_reason="worker lost 3 times")
    page = admin_client.get(f"/admin/enrichment/job/{finished_job.pk}/change/").content.decode()
    assert "<h2" in page and ">Failure</h2>" in page and "worker lost 3 times" in page


def test_the_job_list_shows_credits_fill_rate_and_duration(admin_client, finished_job):
    response = admin_client.get("/admin/enrichment/job/")
    page = response.content.decode()
    for column in ("column-type", "column-level", "column-rows", "column-status", "column-net_credits",
                   "column-fill_rate", "column-duration"):
        assert column in page
    assert '<td class="field-net_credits">5</td>' in page
    assert '<td class="field-fill_rate">56%</td>' in page  # 5 of the 9 requested values
    assert re.search(r'<td class="field-duration">\d+\.\d s</td>', page)


def test_the_level_filter_offers_only_the_levels_a_submit_accepts(admin_client, finished_job):
    page = admin_client.get("/admin/enrichment/job/").content.decode()
    level_filter = re.search(r'data-filter-title="level".*?</details>', page, re.S).group(0)
    assert "Standard" in level_filter and "Pro" in level_filter and "Quick" not in level_filter
    assert admin_client.get("/admin/enrichment/job/?level=pro").context["cl"].result_count == 0
    assert admin_client.get("/admin/enrichment/job/?level=standard").context["cl"].result_count == 1
    assert admin_client.get("/admin/enrichment/job/?state=completed").context["cl"].result_count == 1
    assert admin_client.get("/admin/enrichment/job/?state=running").context["cl"].result_count == 0


def test_the_job_list_costs_the_same_queries_for_one_job_as_for_many(admin_client, finished_job, api_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/enrichment/job/").status_code == 200
        return len(captured)

    one = queries()
    for _ in range(4):
        assert api_client.post("/api/v1/enrichment/submit/", {
            "type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
            "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}]},
            format="json").status_code == 200
    assert queries() == one


def test_rows_ledger_entries_and_deliveries_have_readable_names(finished_job):
    row = JobRow.objects.get(job=finished_job, position=2)
    assert str(row) == f"row 3 of job {str(finished_job.pk)[:8]}…"
    submit = LedgerEntry.objects.get(job=finished_job, kind="deduction")
    assert str(submit) == f"−15 credits · submit · {submit.created_at:%Y-%m-%d}"
    refund = LedgerEntry.objects.get(job=finished_job, reference__endswith=":no_phone")
    assert str(refund) == f"+5 credits · no_phone · {refund.created_at:%Y-%m-%d}"
    delivery = WebhookDelivery.objects.get(job=finished_job)
    assert str(delivery) == "Enrichment Completed webhook to hooks.example.com · failed after 3 attempts"


def test_dashboard_selectors_aggregate_the_last_days(finished_job):
    since = datetime.now(UTC) - timedelta(days=30)
    today = datetime.now(UTC).date()
    assert jobs_per_day(since=since) == {today: {"jobs": 1, "rows": 3}}
    assert credits_per_day(since=since) == {today: {"charged": 15, "refunded": 10}}
    assert fill_rate_by_source(since=since) == [{"source": "datacore", "filled": 5, "requested": 9, "rate": 5 / 9}]
    assert fill_rate_by_source(since=datetime.now(UTC) + timedelta(days=1)) == []


def test_the_dashboard_is_linked_from_the_index_and_draws_four_charts_in_three_queries(admin_client, finished_job):
    assert 'href="/admin/dashboard/"' in admin_client.get("/admin/").content.decode()
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get("/admin/dashboard/")
    page = response.content.decode()
    assert response.status_code == 200
    data_queries = [query["sql"] for query in captured
                    if "enrichment_job" in query["sql"] or "wallet_ledgerentry" in query["sql"]]
    assert len(data_queries) == 3, data_queries
    assert page.count('<svg class="chart"') == 4
    assert page.count('class="bar"') == 30 + 30 + 60 + 1
    today = datetime.now(UTC).strftime("%m-%d")
    assert f"<title>{today}: 1 jobs</title>" in page and f"<title>{today}: 3 rows</title>" in page
    assert f"<title>{today}: 15 credits charged</title>" in page
    assert "<title>datacore: 5 of 9 values</title>" in page and "55.6%" in page
    assert "<script" not in page.split('id="content-main"')[1]


def test_the_dashboard_refuses_staff_without_the_view_permissions(client, django_user_model):
    staff = django_user_model.objects.create_user("clerk", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/dashboard/").status_code == 403


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (3, 5), (15, 20), (21, 25), (240, 250), (1001, 2000)])
def test_chart_axes_end_on_a_round_number(value, ceiling):
    assert nice_ceiling(value) == ceiling
