"""Submit in file-upload mode (CSV, XLSX, XLS) through the API."""

import io
import json
from decimal import Decimal

import pytest
import xlwt
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from enrichment.models import Job
from pricing.services import plan_assign
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
ESTIMATE = "/api/v1/enrichment/estimate/"
HEADER = [" First Name ", "Last Name", "Company Name", "Contact Email"]
ROWS = [["Jane", "Doe", "Acme Corp", "jane@acme.com"], ["John", "Roe", "", ""], ["Ann", "", "Beta Ltd", None]]


def csv_upload(rows=ROWS, header=HEADER, name="contacts.csv"):
    lines = [",".join(header)] + [",".join("" if cell is None else cell for cell in row) for row in rows]
    return SimpleUploadedFile(name, ("\n".join(lines) + "\n").encode(), content_type="text/csv")


def xlsx_upload(rows=ROWS, header=HEADER):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile("contacts.xlsx", buffer.getvalue())


def xls_upload(rows=ROWS, header=HEADER):
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("contacts")
    for column, title in enumerate(header):
        sheet.write(0, column, title)
    for row_index, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value is not None:
                sheet.write(row_index, column, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile("contacts.xls", buffer.getvalue())


def form(upload, **fields):
    return {"file": upload, "type": "contact", "level": "standard",
            "fields_to_enrich": "contact_email, job_title ,industry", **fields}


@pytest.mark.parametrize("make_upload", [csv_upload, xlsx_upload, xls_upload])
def test_each_file_format_is_parsed_into_the_same_records(api_client, alice, make_upload):
    response = api_client.post(SUBMIT, form(make_upload()), format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["estimated_credits"] == 6
    job = Job.objects.get(job_id=response.json()["job_id"])
    assert job.fields_to_enrich == ["contact_email", "job_title", "industry"]
    assert job.input_data == [
        {"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp", "contact_email": "jane@acme.com"},
        {"first_name": "John", "last_name": "Roe", "company_name": "", "contact_email": ""},
        {"first_name": "Ann", "last_name": "", "company_name": "Beta Ltd", "contact_email": ""},
    ]
    assert job.input_columns == ["first_name", "last_name", "company_name", "contact_email"]
    assert job.input_file_name.startswith("contacts.")
    assert wallet_balance(user=alice) == Decimal("994")


def test_seed_account_file_example(api_client):
    upload = SimpleUploadedFile("companies.csv", b"Company Name,Company Website\nAcme Corp,acme.com\n")
    response = api_client.post(SUBMIT, {"file": upload, "type": "account", "level": "standard",
                                        "fields_to_enrich": "industry,revenue_range,employee_range,company_linkedin_url"},
                               format="multipart")
    assert response.status_code == 200
    assert response.json()["estimated_credits"] == 1


def test_criteria_arrive_as_a_json_form_field(api_client):
    upload = SimpleUploadedFile("companies.csv", b"company_name\nAcme Corp\nBeta\n")
    response = api_client.post(SUBMIT, {"file": upload, "type": "account", "level": "standard",
                                        "fields_to_enrich": "industry,first_name",
                                        "criteria": '{"limit": 3, "job_level": "VP"}'}, format="multipart")
    assert response.status_code == 200
    assert response.json()["estimated_credits"] == 6
    assert Job.objects.get().criteria == {"limit": 3, "job_level": ["VP"]}


def test_invalid_criteria_json_is_a_schema_error(api_client):
    response = api_client.post(SUBMIT, form(csv_upload(), criteria="{limit: 3"), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"criteria": ["Invalid JSON."]}


@pytest.mark.parametrize("path", [SUBMIT, ESTIMATE])
def test_data_sent_as_a_form_field_is_held_to_the_json_records_rules(api_client, alice, path):
    fields = {"type": "contact", "level": "standard", "fields_to_enrich": "job_title",
              "data": json.dumps([{"first_name": "Jane"}, {"first_name": "Jo\x00hn", "last_name": "Roe"}])}
    response = api_client.post(path, fields, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"data": "Record 2: 'first_name' contains a null character."}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


@pytest.mark.parametrize("field", ["data", "criteria"])
@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"limit": 1e400}'])
def test_form_json_nested_too_deep_or_out_of_range_is_invalid_json(api_client, field, text):
    fields = {"type": "account", "level": "standard", "fields_to_enrich": "industry",
              "data": '[{"company_name": "Acme"}]', field: text}
    response = api_client.post(SUBMIT, fields, format="multipart")
    assert (response.status_code, response.json()) == (400, {field: ["Invalid JSON."]})


def test_criteria_form_field_is_bounded_like_json_criteria(api_client):
    response = api_client.post(SUBMIT, form(csv_upload(), type="account", fields_to_enrich="industry",
                                            criteria=json.dumps({"limit": 1, "keyword": ["k"] * 21})),
                               format="multipart")
    assert response.status_code == 400
    assert response.json() == {"criteria": {"keyword": ["Ensure this field has no more than 20 entries."]}}


def test_a_file_cell_longer_than_a_record_value_may_be_names_its_record(api_client, alice):
    rows = [["Jane", "Doe", "Acme", ""], ["John", "Roe", "x" * 2001, ""]]
    response = api_client.post(SUBMIT, form(csv_upload(rows)), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"data": "Record 2: 'company_name' is longer than 2000 characters."}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_a_nul_in_an_xls_cell_is_refused_naming_its_record(api_client, alice):
    response = api_client.post(SUBMIT, form(xls_upload(rows=[["Ja\x00ne", "Doe", "Acme", None]])), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"data": "Record 1: 'first_name' contains a null character."}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_unsupported_extension(api_client):
    upload = SimpleUploadedFile("contacts.pdf", b"%PDF-1.4")
    response = api_client.post(SUBMIT, form(upload), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"error": "Unsupported format. Use CSV or Excel."}


def test_too_many_rows_states_the_files_count(api_client):
    rows = [[f"P{i}", "Doe", "Acme", ""] for i in range(712)]
    response = api_client.post(SUBMIT, form(csv_upload(rows)), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"error": "Maximum 500 records. File has 712."}


def test_data_must_not_accompany_a_file(api_client):
    response = api_client.post(SUBMIT, form(csv_upload(), data='[{"first_name": "x"}]'), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"data": "Do not send data with a file: the parsed file replaces it."}


def test_file_parsing_comes_before_schema_validation(api_client):
    upload = SimpleUploadedFile("contacts.txt", b"x")
    response = api_client.post(SUBMIT, {"file": upload, "type": "bogus"}, format="multipart")
    assert response.json() == {"error": "Unsupported format. Use CSV or Excel."}


def test_identifier_check_names_the_file_record(api_client):
    rows = [["Jane", "Doe", "Acme", ""], ["", "", "", ""], ["", "", "", "  "]]
    response = api_client.post(SUBMIT, form(csv_upload(rows + [["x", "", "", ""]], header=HEADER[:3] + ["Job Title"])),
                               format="multipart")
    assert response.status_code == 200  # blank rows are skipped, the title-only row has a first name


def test_plan_limit_applies_to_files(api_client, alice):
    plan_assign(username=alice.username, enrichment_limit=2)
    response = api_client.post(SUBMIT, form(csv_upload()), format="multipart")
    assert response.json() == {"error": "Plan limit exceeded", "limit": 2, "requested": 3}


@pytest.mark.parametrize("payload, name", [
    (b"", "empty.csv"), (b"first_name,last_name\n", "header_only.csv"), (b"\x00\xff" * 5000, "garbage.csv"),
    (b"PK\x03\x04 not really a zip", "broken.xlsx"), (b"not an xls", "broken.xls"),
    (b"first_name\nJos\xe9\n", "latin1.csv"),
])
def test_broken_files_get_a_clear_400_and_write_nothing(api_client, alice, payload, name):
    response = api_client.post(SUBMIT, form(SimpleUploadedFile(name, payload)), format="multipart")
    if name == "latin1.csv":
        assert response.status_code == 200
        assert Job.objects.get().input_data == [{"first_name": "José"}]
        return
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_ten_megabytes_of_garbage_is_refused_without_a_500(api_client, alice):
    import os

    response = api_client.post(SUBMIT, form(SimpleUploadedFile("big.csv", os.urandom(10 * 1024 * 1024 + 10))),
                               format="multipart")
    assert response.status_code in (400, 413)
    assert Job.objects.count() == 0


def test_estimate_previews_the_cost_without_creating_or_charging(api_client, alice):
    response = api_client.post(ESTIMATE, form(csv_upload()), format="multipart")
    assert response.status_code == 200
    assert response.json() == {"estimated_credits": 6, "estimated_credits_exact": "6", "per_row_rate": "2",
                               "rate_category": "email", "criteria_multiplier": 1, "record_count": 3,
                               "wallet_balance": "1000"}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_estimate_runs_the_same_validation(api_client, make_user, make_client):
    assert api_client.post(ESTIMATE, form(SimpleUploadedFile("x.doc", b"x")), format="multipart").json() == {
        "error": "Unsupported format. Use CSV or Excel."}
    poor = make_client(make_user("poor", credits=1))
    response = poor.post(ESTIMATE, {"type": "contact", "level": "pro", "fields_to_enrich": ["contact_email"],
                                    "data": [{"first_name": "x"}]}, format="json")
    assert response.status_code == 402
    assert response.json() == {"error": "You require 4 credits, but only 1 are available."}


def test_an_upload_no_row_of_which_can_match_names_its_columns_and_charges_nothing(api_client, alice):
    upload = csv_upload(rows=[["Jane Doe", "VP Sales"]], header=["Full Name", "Position"])

    response = api_client.post(SUBMIT, form(upload), format="multipart")

    assert response.status_code == 400
    assert response.json() == {
        "data": "Record 1: needs at least one of ['company_name', 'contact_email', 'contact_linkedin_url', "
                "'first_name', 'last_name']",  # the seed's text
        "unrecognized_columns": ["full_name", "position"]}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_the_status_document_lists_the_columns_no_match_reads(api_client):
    upload = csv_upload(rows=[["Jane", "Acme Corp", "Gold", "42"]], header=["First", "Company", "Tier", "CRM Id"])
    job_id = api_client.post(SUBMIT, form(upload), format="multipart").json()["job_id"]

    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()

    assert status["ignored_columns"] == ["tier", "crm_id"]


def test_common_export_headers_are_read_as_our_columns(api_client):
    upload = csv_upload(rows=[["Jane", "Doe", "Acme Corp", "jane@acme.com", "acme.com"]],
                        header=["First", "Surname", "Company", "Work Email", "Domain"])
    job_id = api_client.post(SUBMIT, form(upload), format="multipart").json()["job_id"]

    assert Job.objects.get(job_id=job_id).input_data == [{
        "first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp", "contact_email": "jane@acme.com",
        "company_website": "acme.com"}]


def test_an_alias_never_overwrites_a_column_of_the_canonical_name(api_client):
    upload = csv_upload(rows=[["Acme Holdings", "Acme Corp"]], header=["Company", "Company Name"])
    job_id = api_client.post(SUBMIT, form(upload), format="multipart").json()["job_id"]

    assert Job.objects.get(job_id=job_id).input_data == [{"company": "Acme Holdings", "company_name": "Acme Corp"}]
