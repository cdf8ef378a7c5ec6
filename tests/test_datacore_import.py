"""DataCore bulk import (COPY + upsert) fed by the demo-data generator, against real PostgreSQL."""

import csv
import io

import pandas as pd
import pytest
from django.core.management import call_command

from sources.loading.datacore import import_companies, import_people
from sources.loading.demo_data import COMPANY_COLUMNS, PEOPLE_COLUMNS, generate_demo_data
from sources.models import Company, Person
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
    normalize_phone,
)

COMPANIES, PEOPLE = 20, 200


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory):
    return generate_demo_data(tmp_path_factory.mktemp("csv"), companies=COMPANIES, people=PEOPLE, seed=7)


@pytest.fixture(scope="module")
def demo_parquet(tmp_path_factory):
    return generate_demo_data(tmp_path_factory.mktemp("parquet"), companies=COMPANIES, people=PEOPLE, seed=7,
                              file_format="parquet")


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_csv(path, columns, rows: list[dict]):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({column: row.get(column, "") for column in columns} for row in rows)
    return path


def person_row(**values) -> dict:
    return {"first_name": "Ada", "last_name": "Lovelace", "company_name": "Analytical Engines Ltd",
            "company_website": "analyticalengines.co.uk", "opted_out": "false", **values}


# --- generator ----------------------------------------------------------------------------------

def test_generator_is_reproducible_and_seed_dependent(tmp_path, demo_csv):
    again = generate_demo_data(tmp_path / "again", companies=COMPANIES, people=PEOPLE, seed=7)
    other = generate_demo_data(tmp_path / "other", companies=COMPANIES, people=PEOPLE, seed=8)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in demo_csv]
    assert other[1].read_bytes() != demo_csv[1].read_bytes()


def test_generator_writes_the_import_format_with_consistent_values(demo_csv):
    companies, people = read(demo_csv[0]), read(demo_csv[1])
    assert tuple(companies.columns) == COMPANY_COLUMNS and tuple(people.columns) == PEOPLE_COLUMNS
    assert len(companies) == COMPANIES and len(people) == PEOPLE

    domains = companies["company_website"].map(normalize_domain)
    assert domains.ne("").all() and domains.is_unique
    assert companies["company_hq_phone"].combine(companies["company_hq_country_code"], normalize_phone).ne("").all()
    assert companies["industry_naics_code"].str.fullmatch(r"\d{6}").all()
    assert companies["industry_sic_code"].str.fullmatch(r"\d{4}").all()
    parents = companies["parent_company_website"].map(normalize_domain)
    assert parents.ne("").sum() >= 1 and parents[parents != ""].isin(set(domains)).all()

    emails = people["contact_email"][people["contact_email"] != ""]
    assert emails.map(normalize_email).ne("").all() and emails.is_unique
    assert (emails.str.split("@").str[1].map(normalize_domain)).isin(set(domains)).all()
    profiles = people["contact_linkedin_url"][people["contact_linkedin_url"] != ""]
    assert profiles.str.startswith("https://www.linkedin.com/in/").all() and profiles.is_unique
    for column in ("contact_mobile_phone", "contact_direct_phone", "contact_office_phone"):
        phones = people[people[column] != ""]
        assert phones[column].combine(phones["contact_office_country_code"], normalize_phone).ne("").all()
    assert set(people["job_level"]) <= {"C-Level", "VP", "Director", "Manager", "Staff"}
    namesakes = people.groupby(["first_name", "last_name"])["company_name"].nunique()
    assert (namesakes > 1).any()


# --- import -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_import_loads_rows_with_normalized_keys_and_company_links(demo_csv):
    companies, people = read(demo_csv[0]), read(demo_csv[1])

    company_report = import_companies(demo_csv[0])
    person_report = import_people(demo_csv[1])

    assert (company_report.new, company_report.rejected) == (COMPANIES, [])
    assert (person_report.new, person_report.rejected) == (PEOPLE, [])
    assert Company.objects.count() == COMPANIES and Person.objects.count() == PEOPLE

    for row in companies.itertuples():
        company = Company.objects.get(source_key=f"d:{normalize_domain(row.company_website)}")
        assert company.company_name == row.company_name
        assert company.name_norm == normalize_company_name(row.company_name)
        assert company.linkedin_norm == normalize_linkedin_url(row.company_linkedin_url)
        assert company.opted_out == (row.opted_out == "true")

    for row in people.itertuples():
        person = Person.objects.get(first_name=row.first_name, last_name=row.last_name,
                                    contact_email=row.contact_email, contact_linkedin_url=row.contact_linkedin_url)
        assert person.first_norm == normalize_person_name(row.first_name)
        assert person.last_norm == normalize_person_name(row.last_name)
        assert person.email_norm == normalize_email(row.contact_email)
        assert person.linkedin_norm == normalize_linkedin_url(row.contact_linkedin_url)
        assert person.company_name_norm == normalize_company_name(row.company_name)
        assert person.company_domain_norm == normalize_domain(row.company_website)
        assert person.last_seen_at == pd.Timestamp(row.last_seen_at)
        assert person.company is not None and person.company.company_name == row.company_name
    assert person_report.unlinked == 0


@pytest.mark.django_db
def test_reimport_is_idempotent_and_applies_changed_values(demo_csv, tmp_path):
    import_companies(demo_csv[0], workers=1)
    import_people(demo_csv[1], workers=1)

    again = import_companies(demo_csv[0], workers=1), import_people(demo_csv[1], workers=1)
    assert [(r.new, r.updated, r.unchanged) for r in again] == [(0, 0, COMPANIES), (0, 0, PEOPLE)]
    assert Company.objects.count() == COMPANIES and Person.objects.count() == PEOPLE

    companies, people = read(demo_csv[0]), read(demo_csv[1])
    companies.loc[0, "company_hq_city"] = "Springfield"
    people.loc[3, "job_title"] = "Chief Happiness Officer"
    opting_out = people.index[(people["opted_out"] == "false") & (people.index != 3)][0]
    people.loc[opting_out, "opted_out"] = "true"
    companies.to_csv(tmp_path / "companies.csv", index=False)
    people.to_csv(tmp_path / "people.csv", index=False)

    changed = import_companies(tmp_path / "companies.csv", workers=1), import_people(tmp_path / "people.csv", workers=1)
    assert [(r.new, r.updated, r.unchanged) for r in changed] == [(0, 1, COMPANIES - 1), (0, 2, PEOPLE - 2)]
    assert Company.objects.count() == COMPANIES and Person.objects.count() == PEOPLE
    assert Company.objects.get(company_name=companies.loc[0, "company_name"]).company_hq_city == "Springfield"
    assert Person.objects.get(email_norm=normalize_email(people.loc[3, "contact_email"]),
                              linkedin_norm=normalize_linkedin_url(people.loc[3, "contact_linkedin_url"]),
                              first_name=people.loc[3, "first_name"]).job_title == "Chief Happiness Officer"
    assert Person.objects.filter(opted_out=True).count() == (people["opted_out"] == "true").sum()


@pytest.mark.django_db
def test_parquet_loads_the_same_records_as_csv(demo_csv, demo_parquet):
    parquet = import_companies(demo_parquet[0]), import_people(demo_parquet[1])
    assert [(r.new, len(r.rejected)) for r in parquet] == [(COMPANIES, 0), (PEOPLE, 0)]

    from_csv = import_companies(demo_csv[0]), import_people(demo_csv[1])
    assert [(r.new, r.updated, r.unchanged) for r in from_csv] == [(0, 0, COMPANIES), (0, 0, PEOPLE)]


@pytest.mark.django_db
def test_parquet_with_typed_columns_loads(tmp_path):
    path = tmp_path / "people.parquet"
    pd.DataFrame({
        "first_name": ["Ada", None], "last_name": ["Lovelace", "Hopper"],
        "contact_email": ["ada@analyticalengines.co.uk", "grace@navy.mil"],
        "opted_out": [True, False],
        "last_seen_at": pd.to_datetime(["2025-01-02T03:04:05Z", None], utc=True),
    }).to_parquet(path)

    report = import_people(path)

    assert (report.new, report.rejected) == (2, [])
    ada = Person.objects.get(email_norm="ada@analyticalengines.co.uk")
    assert ada.opted_out and ada.last_seen_at == pd.Timestamp("2025-01-02T03:04:05Z")
    grace = Person.objects.get(email_norm="grace@navy.mil")
    assert (grace.first_name, grace.opted_out, grace.last_seen_at) == ("", False, None)


@pytest.mark.django_db
def test_subsidiaries_are_linked_to_their_parent(demo_csv):
    import_companies(demo_csv[0])
    companies = read(demo_csv[0])
    subsidiaries = companies[companies["parent_company_website"] != ""]
    assert len(subsidiaries) >= 1
    for row in subsidiaries.itertuples():
        child = Company.objects.get(source_key=f"d:{normalize_domain(row.company_website)}")
        assert child.parent.domain_norm == normalize_domain(row.parent_company_website)


@pytest.mark.django_db
def test_parent_listed_after_its_subsidiary_is_linked_and_unknown_parent_is_noted(tmp_path):
    path = write_csv(tmp_path / "companies.csv", COMPANY_COLUMNS, [
        {"company_name": "Acme Robotics GmbH", "company_website": "acme-robotics.de",
         "parent_company_website": "https://www.acme.com"},
        {"company_name": "Acme Labs Inc", "company_website": "acmelabs.com", "parent_company_website": "nowhere.org"},
        {"company_name": "Acme Corporation", "company_website": "https://www.acme.com/about"},
    ])
    report = import_companies(path)

    assert report.new == 3
    assert Company.objects.get(domain_norm="acme-robotics.de").parent.domain_norm == "acme.com"
    assert Company.objects.get(domain_norm="acmelabs.com").parent is None
    assert [(issue.line, "nowhere.org" in issue.reason) for issue in report.notes] == [(3, True)]

    again = import_companies(path)
    assert (again.updated, again.unchanged) == (0, 3)


@pytest.mark.django_db
def test_bad_rows_are_reported_by_line_and_good_rows_still_load(tmp_path):
    companies = write_csv(tmp_path / "companies.csv", COMPANY_COLUMNS, [
        {"company_name": "Analytical Engines Ltd", "company_website": "analyticalengines.co.uk"},  # line 2
        {"company_hq_city": "Nowhere"},  # line 3: neither name nor website
        {"company_name": "Babbage & Co", "company_website": "not a website"},  # line 4
        {"company_name": "Difference Engines", "year_founded": "18th century"},  # line 5
        {"company_name": "Jacquard Looms", "company_hq_state_code": "X" * 40},  # line 6: too long
    ])
    company_report = import_companies(companies)
    assert [issue.line for issue in company_report.rejected] == [3, 4, 5, 6]
    assert "no company_name or company_website" in company_report.rejected[0].reason
    assert "company_website" in company_report.rejected[1].reason
    assert "year_founded" in company_report.rejected[2].reason
    assert "company_hq_state_code" in company_report.rejected[3].reason
    assert company_report.new == 1

    people = write_csv(tmp_path / "people.csv", PEOPLE_COLUMNS, [
        person_row(contact_email="ada@analyticalengines.co.uk"),  # line 2
        person_row(first_name="", last_name="", company_name="", company_website=""),  # line 3: no identifier
        person_row(contact_email="ada at engines"),  # line 4
        person_row(contact_linkedin_url="https://www.linkedin.com/company/analytical-engines"),  # line 5
        person_row(first_name="Charles", opted_out="maybe"),  # line 6
        person_row(first_name="Charles", last_seen_at="last Tuesday"),  # line 7
        person_row(first_name="Charles", last_name="Babbage", last_seen_at="2025-01-02T03:04:05Z"),  # line 8
    ])
    with open(people, "a") as handle:
        handle.write("too,few,values\n")  # line 9
    person_report = import_people(people)

    assert [issue.line for issue in person_report.rejected] == [3, 4, 5, 6, 7, 9]
    reasons = [issue.reason for issue in person_report.rejected]
    assert "identify" in reasons[0]
    assert "'ada at engines'" in reasons[1]
    assert "LinkedIn profile" in reasons[2]
    assert "opted_out" in reasons[3] and "last_seen_at" in reasons[4]
    assert "expected" in reasons[5]
    assert (person_report.new, person_report.rows) == (2, 8)
    assert set(Person.objects.values_list("source_key", flat=True)) == {
        "e:ada@analyticalengines.co.uk", "n:charles|babbage|d:analyticalengines.co.uk"}
    assert Person.objects.filter(company__domain_norm="analyticalengines.co.uk").count() == 2


@pytest.mark.django_db
def test_repeated_record_in_a_file_keeps_the_last_line(tmp_path):
    people = write_csv(tmp_path / "people.csv", PEOPLE_COLUMNS, [
        person_row(contact_email="ada@analyticalengines.co.uk", job_title="Analyst"),
        person_row(contact_email="ADA@analyticalengines.co.uk", job_title="Programmer"),
    ])
    report = import_people(people)

    assert report.new == 1 and [issue.line for issue in report.rejected] == [2]
    assert Person.objects.get().job_title == "Programmer"


@pytest.mark.django_db
def test_people_link_by_company_name_when_the_website_is_missing(tmp_path):
    write_csv(tmp_path / "companies.csv", COMPANY_COLUMNS, [
        {"company_name": "Analytical Engines Ltd", "company_website": "analyticalengines.co.uk"},
        {"company_name": "Twin Corp", "company_website": "twin.com"},
        {"company_name": "Twin, Inc.", "company_website": "twin.org"},
    ])
    import_companies(tmp_path / "companies.csv")
    people = write_csv(tmp_path / "people.csv", PEOPLE_COLUMNS, [
        person_row(company_website="", company_name="ANALYTICAL ENGINES LIMITED"),
        person_row(first_name="Grace", company_website="", company_name="Twin"),  # two companies share the name
    ])
    report = import_people(people)

    assert report.unlinked == 1
    assert Person.objects.get(first_name="Ada").company.domain_norm == "analyticalengines.co.uk"
    assert Person.objects.get(first_name="Grace").company is None


@pytest.mark.django_db
def test_command_prints_summaries_on_stdout_and_issues_with_progress_on_stderr(demo_csv, tmp_path):
    people = read(demo_csv[1])
    people.loc[5, "contact_email"] = "broken@"
    people.to_csv(tmp_path / "people.csv", index=False)
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("import_datacore", companies=str(demo_csv[0]), people=str(tmp_path / "people.csv"),
                 stdout=stdout, stderr=stderr)

    summaries = stdout.getvalue().splitlines()
    assert len(summaries) == 2
    assert summaries[0].startswith(f"companies: {COMPANIES} imported ({COMPANIES} new, 0 updated, 0 unchanged)")
    assert summaries[1].startswith(f"people: {PEOPLE - 1} imported ({PEOPLE - 1} new, 0 updated, 0 unchanged), 1 rejected")
    assert "line 7: contact_email is not an email address: 'broken@'" in stderr.getvalue()
    assert "rows/s" in stderr.getvalue()


def test_generate_command_writes_both_files(tmp_path):
    stdout = io.StringIO()
    call_command("generate_demo_data", companies=3, people=10, out=str(tmp_path), format="parquet", stdout=stdout,
                 stderr=io.StringIO())
    assert stdout.getvalue().split() == [str(tmp_path / "companies.parquet"), str(tmp_path / "people.parquet")]
    assert len(pd.read_parquet(tmp_path / "people.parquet")) == 10
