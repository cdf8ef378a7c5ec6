"""Scraped LinkedIn snapshots: import (newest per profile wins), the scraped lookup stage, and still-in-company."""

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from enrichment.pipeline.rows import WorkRow
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.pipeline.stages import ROW_STAGES, ScrapedSnapshotStage, StillInCompanyStage
from enrichment.tasks import run_enrichment_job
from sources.contacts import RowKeys
from sources.loading.snapshots import snapshots_from_datacore
from sources.models import LinkedInSnapshot
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_linkedin_url,
    normalize_person_name,
)
from sources.snapshots import works_elsewhere
from tests.factories import make_company, make_person
from tests.test_pipeline import results_of, status_of, submit
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = pytest.mark.django_db

JANE = "https://www.linkedin.com/in/janedoe"
BOB = "https://www.linkedin.com/in/bob-smith-42"
MAYA = "https://linkedin.com/in/maya-lindqvist/"


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def write_snapshots(path, records: list[dict]):
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    elif path.suffix == ".parquet":
        pd.DataFrame(records).to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def import_file(path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_snapshots", str(path), "--workers", "1", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored(url: str) -> LinkedInSnapshot:
    return LinkedInSnapshot.objects.get(linkedin_norm=normalize_linkedin_url(url))


def make_snapshot(url, first_name, last_name, *, company_name="", company_website="", job_title="",
                  scraped_at="2024-06-01") -> LinkedInSnapshot:
    return LinkedInSnapshot.objects.create(
        linkedin_norm=normalize_linkedin_url(url), contact_linkedin_url=url, first_name=first_name,
        last_name=last_name, first_norm=normalize_person_name(first_name), last_norm=normalize_person_name(last_name),
        job_title=job_title, company_name=company_name, company_website=company_website,
        company_name_norm=normalize_company_name(company_name), company_domain_norm=normalize_domain(company_website),
        scraped_at=at(scraped_at))


def snapshot_record(url, first, last, title, company, scraped_at, **extra) -> dict:
    return {"contact_linkedin_url": url, "first_name": first, "last_name": last, "full_name": "",
            "job_title": title, "company_name": company, "company_website": "", "location": "Austin, US",
            "scraped_at": scraped_at, **extra}


# --- import -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_import_keeps_the_newest_snapshot_per_profile_and_reports_bad_lines(tmp_path, suffix):
    path = write_snapshots(tmp_path / f"snapshots{suffix}", [
        snapshot_record(JANE, "Jane", "Doe", "VP Sales", "Acme", "2024-03-01T09:00:00Z"),
        snapshot_record(JANE.upper() + "/?trk=x", "Jane", "Doe", "CRO", "Globex", "2024-06-01T09:00:00+02:00"),
        snapshot_record(JANE, "Jane", "Doe", "SDR", "Acme", "2024-01-01"),
        snapshot_record("https://example.com/in/jane", "Jane", "Doe", "CRO", "Globex", "2024-06-01"),
        snapshot_record("https://linkedin.com/in/someone", "Some", "One", "CTO", "Initech", "last tuesday"),
        snapshot_record(BOB, "", "", "Engineer", "Initech", "2024-05-01", full_name="Dr. J. Robert Smith"),
        snapshot_record("https://linkedin.com/in/future", "Fu", "Ture", "CEO", "Hooli", "2999-01-01"),
    ])
    out, err = import_file(path)

    assert LinkedInSnapshot.objects.count() == 2
    jane = stored(JANE)
    assert (jane.job_title, jane.company_name, jane.scraped_at) == ("CRO", "Globex", at("2024-06-01T07:00:00"))
    assert jane.company_name_norm == "globex" and jane.first_norm == "jane"
    bob = stored(BOB)
    assert (bob.first_name, bob.last_name, bob.first_norm, bob.last_norm) == ("Robert", "Smith", "robert", "smith")
    first = 2 if suffix == ".csv" else 1  # CSV lines count the header
    assert f"line {first + 3}: contact_linkedin_url is not a LinkedIn profile: 'https://example.com/in/jane'" in err
    assert f"line {first + 4}: scraped_at is not an ISO 8601 date: 'last tuesday'" in err
    assert f"line {first + 6}: scraped_at is in the future: '2999-01-01'" in err
    assert out.startswith("snapshots: 2 stored (2 new, 0 newer than the one stored), "
                          "2 superseded by a newer snapshot, 3 rejected")


def test_an_older_snapshot_never_replaces_a_newer_one_across_imports(tmp_path):
    import_file(write_snapshots(tmp_path / "june.csv", [
        snapshot_record(JANE, "Jane", "Doe", "CRO", "Globex", "2024-06-01")]))

    out, _ = import_file(write_snapshots(tmp_path / "march.jsonl", [
        snapshot_record(JANE, "Jane", "Doe", "SDR", "Acme", "2024-03-01")]))
    assert stored(JANE).job_title == "CRO"
    assert "0 stored (0 new, 0 newer than the one stored), 1 superseded" in out

    september = pd.DataFrame([snapshot_record(JANE, "Jane", "Doe", "CEO", "Globex", None)])
    september["scraped_at"] = pd.to_datetime(["2024-09-01T12:00:00Z"])  # a real Parquet timestamp column
    september.to_parquet(tmp_path / "september.parquet", index=False)
    out, _ = import_file(tmp_path / "september.parquet")
    assert (stored(JANE).job_title, stored(JANE).scraped_at) == ("CEO", at("2024-09-01T12:00:00"))
    assert "1 stored (0 new, 1 newer than the one stored)" in out


def test_jsonl_lines_that_are_not_objects_are_reported_and_the_rest_imported(tmp_path):
    path = tmp_path / "snapshots.jsonl"
    path.write_text("\n".join([
        json.dumps(snapshot_record(JANE, "Jane", "Doe", "CRO", "Globex", "2024-06-01", extra_field=1)),
        "{not json",
        "",
        json.dumps(["a", "list"]),
        json.dumps({"contact_linkedin_url": BOB, "full_name": "Bob Smith"}),
    ]) + "\n", encoding="utf-8")
    out, err = import_file(path)
    assert stored(JANE).job_title == "CRO"
    assert "line 2: not a JSON object" in err and "line 4: not a JSON object" in err
    assert "line 5: no scraped_at" in err
    assert "1 stored" in out and "3 rejected" in out


def test_a_file_without_the_required_columns_or_missing_is_a_command_error(tmp_path):
    path = tmp_path / "no_dates.csv"
    path.write_text("contact_linkedin_url,job_title\nhttps://linkedin.com/in/x,CTO\n", encoding="utf-8")
    with pytest.raises(CommandError, match="scraped_at"):
        import_file(path)
    with pytest.raises(CommandError):
        import_file(tmp_path / "missing.jsonl")


def test_demo_snapshots_from_datacore_are_recent_and_some_people_moved(tmp_path):
    acme = make_company("Acme Corp", "acme.com")
    make_company("Globex", "globex.com")
    make_company("Initech", "initech.com")
    last_seen = at("2024-01-15")
    for n in range(10):
        make_person(acme, f"First{n}", f"Last{n}", contact_linkedin_url=f"https://linkedin.com/in/person-{n}",
                    last_seen_at=last_seen)
    make_person(acme, "No", "Profile", contact_email="no.profile@acme.com")

    path = snapshots_from_datacore(path=tmp_path / "demo.jsonl", share=0.5, moved_share=0.4, seed=3)
    again = snapshots_from_datacore(path=tmp_path / "again.jsonl", share=0.5, moved_share=0.4, seed=3)
    snapshots = pd.read_json(path, lines=True, dtype=False)
    same_seed = pd.read_json(again, lines=True, dtype=False)
    assert snapshots.drop(columns="scraped_at").equals(same_seed.drop(columns="scraped_at"))
    assert len(snapshots) == 5
    assert snapshots["contact_linkedin_url"].str.startswith("https://linkedin.com/in/person-").all()
    assert (snapshots["company_name"] != "Acme Corp").sum() == 2
    assert (pd.to_datetime(snapshots["scraped_at"], utc=True) > last_seen).all()

    out, err = StringIO(), StringIO()
    call_command("import_snapshots", str(tmp_path / "kept.parquet"), "--from-datacore", "--share", "0.5",
                 "--moved-share", "0.4", "--seed", "3", "--workers", "1", stdout=out, stderr=err)
    assert LinkedInSnapshot.objects.count() == 5 and (tmp_path / "kept.parquet").exists()
    assert "5 stored (5 new" in out.getvalue()


# --- the scraped lookup stage -------------------------------------------------------------------

def test_scraped_snapshot_fills_a_title_datacore_lacks_with_its_provenance(api_client, alice):
    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", contact_linkedin_url=JANE, job_title="",
                last_seen_at=at("2024-01-01"))
    make_snapshot(JANE, "Jane", "Doe", job_title="VP Sales", company_name="ACME", scraped_at="2024-05-01")
    make_snapshot(MAYA, "Maya", "Lindqvist", job_title="Head of Data", company_name="Northwind",
                  scraped_at="2024-05-02")

    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"], data=[
        {"first_name": "Maya", "last_name": "Lindqvist", "contact_linkedin_url": MAYA},
        {"first_name": "Jane", "last_name": "Doe", "contact_email": "jane.doe@acme.com"},
    ])
    run_enrichment_job(job_id)

    maya, jane = results_of(api_client, job_id)["results"]
    assert maya["job_title"] == "Head of Data" and maya["enrichment_source"] == "scraped_linkedin"
    assert maya["match_confidence"] >= 90
    assert maya["field_sources"]["job_title"] | {"age_days": None} == {
        "source": "scraped_linkedin", "last_seen": "2024-05-02T00:00:00+00:00", "age_days": None}
    assert jane["job_title"] == "VP Sales" and "left_company" not in jane  # "ACME" is Acme Corp
    stages = {entry["name"]: entry for entry in status_of(api_client, job_id)["stages"]}
    assert stages["scraped_snapshots"]["rows_filled"] == 2 and stages["still_in_company"]["state"] == "done"
    assert wallet_balance(user=alice) < Decimal("1000")  # both rows delivered and keep their charge


def test_a_snapshot_of_someone_else_at_the_url_is_not_used_nor_charged(api_client, alice):
    make_snapshot(MAYA, "Peter", "Novak", job_title="Head of Data", company_name="Northwind")
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title"],
                    data=[{"first_name": "Maya", "last_name": "Lindqvist", "contact_linkedin_url": MAYA}])
    run_enrichment_job(job_id)
    row = results_of(api_client, job_id)["results"][0]
    assert row["enrichment_status"] == "not_enriched" and row["job_title"] == ""
    assert wallet_balance(user=alice) == Decimal("1000")


def test_a_batchs_snapshots_are_fetched_in_one_query_and_reused_by_the_still_in_company_check(
        django_assert_num_queries):
    spec = EnrichmentSpec(type="contact", level="standard", fields_to_enrich=("job_title",))

    def batch():
        rows = []
        for n in range(5):
            record = {"first_name": f"P{n}", "last_name": "Person", "contact_linkedin_url": f"linkedin.com/in/p{n}",
                      "company_name": "Globex"}
            rows.append(WorkRow(position=n, row_uid=f"{n:032}", record=record, keys=RowKeys.from_record(record)))
        return rows

    for n in range(5):
        make_snapshot(f"https://linkedin.com/in/p{n}", f"P{n}", "Person", job_title="CTO", company_name="Acme")
    rows = batch()
    with django_assert_num_queries(1):
        assert ScrapedSnapshotStage().run(spec, rows).rows_filled == 5
    with django_assert_num_queries(0):
        assert StillInCompanyStage().run(spec, rows).detail == "5 left their company"

    matched_elsewhere = batch()
    for row in matched_elsewhere:
        row.person = {"linkedin_norm": row.keys.linkedin, "first_name": row.record["first_name"],
                      "last_name": "Person", "company_name_norm": "globex", "company_domain_norm": "",
                      "last_seen_at": None}
    with django_assert_num_queries(1):
        assert StillInCompanyStage().run(spec, matched_elsewhere).detail == "5 left their company"


# --- still in company ---------------------------------------------------------------------------

@pytest.fixture
def jane_at_acme(db):
    acme = make_company("Acme Corp", "https://www.acme.com")
    return make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", contact_linkedin_url=JANE,
                       job_title="VP Sales", last_seen_at=at("2024-01-01"))


def submit_jane(client, level="standard"):
    return submit(client, type="contact", level=level, fields_to_enrich=["job_title", "contact_email"],
                  data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}])


def test_a_person_who_moved_is_flagged_withheld_and_refunded(api_client, alice, jane_at_acme):
    make_snapshot(JANE, "Jane", "Doe", job_title="CRO", company_name="Globex Corporation",
                  company_website="globex.com", scraped_at="2024-06-01")
    job_id = submit_jane(api_client)
    assert wallet_balance(user=alice) < Decimal("1000")
    run_enrichment_job(job_id)

    row = results_of(api_client, job_id)["results"][0]
    assert row["left_company"] is True
    assert row["notes"] == {"left_company": "Globex Corporation since 2024-06-01"}
    assert row["job_title"] == "" and row["contact_email"] == ""
    assert wallet_balance(user=alice) == Decimal("1000")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)
    assert LedgerEntry.objects.filter(job_id=job_id, kind="refund", note__endswith="left_company").count() == 1
    stages = {entry["name"]: entry for entry in status_of(api_client, job_id)["stages"]}
    assert stages["still_in_company"]["detail"] == "1 left their company"


@pytest.mark.parametrize("company_name, company_website, scraped_at", [
    ("Globex Corporation", "globex.com", "2023-12-01"),  # older than DataCore's record
    ("ACME Corporation, Inc.", "", "2024-06-01"),  # the same company, spelled otherwise
    ("Acme", "acme.io", "2024-06-01"),  # the same name at another domain
    ("", "", "2024-06-01"),  # a profile that names no employer says nothing
])
def test_no_flag_for_an_older_snapshot_or_the_same_company(api_client, alice, jane_at_acme, company_name,
                                                           company_website, scraped_at):
    make_snapshot(JANE, "Jane", "Doe", job_title="CRO", company_name=company_name, company_website=company_website,
                  scraped_at=scraped_at)
    job_id = submit_jane(api_client)
    run_enrichment_job(job_id)
    row = results_of(api_client, job_id)["results"][0]
    assert "left_company" not in row and row["job_title"] == "VP Sales"


def test_still_in_company_is_skipped_at_quick_level():
    stage = StillInCompanyStage()
    def skip_reason(job_type: str, level: str) -> str | None:
        return stage.skip_reason(EnrichmentSpec(type=job_type, level=level, fields_to_enrich=()))

    assert skip_reason("contact", "quick") == "contact jobs at Standard or Pro only"
    assert skip_reason("contact", "standard") is None and skip_reason("contact", "pro") is None
    assert skip_reason("account", "standard") == "contact jobs at Standard or Pro only"


def test_stage_order_follows_the_seed_datacore_snowflake_scraped_then_bigquery_and_the_check_last():
    names = list(dict.fromkeys(stage.name for stage in ROW_STAGES))  # DataCore's contact and account stages share one
    assert names[:4] == ["datacore", "snowflake", "scraped_snapshots", "bigquery_contacts"]
    assert names[-1] == "still_in_company"


@pytest.mark.parametrize("snapshot_company, employers, elsewhere", [
    (("globex", "globex.com"), [("acme", "acme.com")], True),
    (("acme labs", ""), [("acme", "acme.com")], False),
    (("acme", "acme.com"), [("", ""), ("initech", "")], True),
    (("", "globex.com"), [("acme", "")], False),  # nothing comparable
    (("globex", ""), [("acme", "acme.com"), ("globex", "")], False),  # the client already knows the new employer
])
def test_works_elsewhere_compares_only_what_both_sides_know(snapshot_company, employers, elsewhere):
    name, domain = snapshot_company
    snapshot = {"company_name_norm": name, "company_domain_norm": domain}
    assert works_elsewhere(snapshot, employers=employers) is elsewhere
