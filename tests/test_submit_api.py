"""POST /api/v1/enrichment/submit/ in JSON mode: the seed's contract, body for body."""

import json
from decimal import Decimal

import pytest
from django.core.cache import cache

from enrichment.job_input import job_input_cache_key
from enrichment.models import Job
from enrichment.tasks import run_enrichment_job
from pricing.services import plan_assign, price_set
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
CONTACT_IDENTIFIERS = "['company_name', 'contact_email', 'contact_linkedin_url', 'first_name', 'last_name']"


def seed_contact_example(**overrides):
    """The seed's own JSON example (Mode A, contact)."""
    body = {
        "type": "contact",
        "level": "standard",
        "fields_to_enrich": ["contact_email", "contact_mobile_phone", "job_title"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp",
                  "contact_linkedin_url": "https://www.linkedin.com/in/janedoe"}],
    }
    body.update(overrides)
    return body


def contacts(n):
    return [{"first_name": f"P{i}", "last_name": "Doe", "company_name": "Acme Corp"} for i in range(n)]


def test_seed_contact_example_is_submitted_charged_and_dispatched(api_client, alice, queued_job_ids,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(SUBMIT, seed_contact_example(), format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "job_id", "estimated_credits", "message"}
    assert body["status"] == "submitted"
    assert body["message"] == "Enrichment job submitted successfully"
    assert body["estimated_credits"] == 5  # one row at standard_phone_cost
    job = Job.objects.get(job_id=body["job_id"])
    assert job.user == alice and job.record_count == 1 and job.status == "Uploading"
    assert job.input_data[0]["first_name"] == "Jane"
    assert wallet_balance(user=alice) == Decimal("995")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)
    entry = LedgerEntry.objects.get(job=job)
    assert entry.kind == "deduction" and entry.amount == Decimal("-5")
    assert queued_job_ids() == [body["job_id"]]


def test_input_is_cached_in_redis_for_the_worker(api_client, queued_job_ids, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = api_client.post(SUBMIT, seed_contact_example(), format="json").json()["job_id"]

    assert cache.get(job_input_cache_key(job_id))[0]["last_name"] == "Doe"


def test_a_charged_submit_answers_its_job_id_when_its_input_cannot_be_cached_and_a_retry_replays_it(
        api_client, alice, queued_job_ids, django_capture_on_commit_callbacks, monkeypatch):
    class RedisDown:
        def set(self, *args, **kwargs):
            raise ConnectionError("Redis is down")

        get = set

    monkeypatch.setattr("enrichment.job_input.cache", RedisDown())
    body = seed_contact_example(fields_to_enrich=["job_title"],
                                data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme",
                                       "crm_id": "crm-0042"}])
    answers = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(api_client.post(SUBMIT, body, format="json", HTTP_IDEMPOTENCY_KEY="uncached-1"))

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    job_id = answers[0].json()["job_id"]
    assert {answer.json()["job_id"] for answer in answers} == {job_id}
    assert Job.objects.count() == 1 and queued_job_ids() == [job_id]
    assert cache.get(job_input_cache_key(job_id)) is None
    assert wallet_balance(user=alice) == Decimal("998") and ledger_sum(user=alice) == wallet_balance(user=alice)

    run_enrichment_job(job_id)  # reads the input from the job row

    job = Job.objects.get(job_id=job_id)
    assert job.status == "Enrichment Completed" and job.rows_processed == 1
    assert job.rows.get().output[0]["imported_crm_id"] == "crm-0042"


@pytest.mark.parametrize("fields, expected", [
    (["contact_mobile_phone"], 5 * 3),
    (["contact_direct_phone", "contact_email"], 5 * 3),
    (["contact_email", "job_title"], 2 * 3),
    (["job_title"], 2 * 3),  # contact without email/phone defaults to the email rate
])
def test_contact_estimate_follows_the_seed_order(api_client, fields, expected):
    response = api_client.post(SUBMIT, seed_contact_example(fields_to_enrich=fields, data=contacts(3)), format="json")
    assert response.json()["estimated_credits"] == expected


def test_pro_level_uses_pro_rates(api_client):
    response = api_client.post(SUBMIT, seed_contact_example(level="pro", data=contacts(2)), format="json")
    assert response.json()["estimated_credits"] == 16  # 2 × pro_phone_cost 8


def test_account_criteria_multiplies_the_account_rate(api_client):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry", "first_name", "last_name"],
            "criteria": {"limit": 5, "job_level": ["Director", "C-level"], "job_function": "Sales"},
            "data": [{"company_name": "Acme Corp", "company_website": "acme.com"}] * 4}
    response = api_client.post(SUBMIT, body, format="json")
    assert response.status_code == 200
    assert response.json()["estimated_credits"] == 4 * 1 * 5
    job = Job.objects.get(job_id=response.json()["job_id"])
    assert job.criteria == {"limit": 5, "job_level": ["Director", "C-level"], "job_function": ["Sales"]}


def test_account_criteria_with_email_field_uses_the_email_rate_without_multiplying(api_client):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry", "contact_email"],
            "criteria": {"limit": 5}, "data": [{"company_name": "Acme Corp"}] * 4}
    assert api_client.post(SUBMIT, body, format="json").json()["estimated_credits"] == 4 * 2


def test_decimal_rates_are_charged_exactly_and_rounded_in_the_response(api_client, alice):
    price_set(name="standard_email_cost", value=Decimal("1.5"))
    response = api_client.post(SUBMIT, seed_contact_example(fields_to_enrich=["contact_email"], data=contacts(3)),
                               format="json")
    assert response.json()["estimated_credits"] == 5  # 4.5 rounds half up
    assert wallet_balance(user=alice) == Decimal("995.5")


@pytest.mark.parametrize("criteria", [None, {}, {"limit": None}, {"limit": ""}, {"limit": 0}, {"job_level": "VP"}])
def test_criteria_without_a_limit_is_ignored(api_client, criteria):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry"], "criteria": criteria,
            "data": [{"company_name": "Acme Corp"}] * 2}
    response = api_client.post(SUBMIT, body, format="json")
    assert response.status_code == 200
    assert response.json()["estimated_credits"] == 2
    assert Job.objects.get(job_id=response.json()["job_id"]).criteria is None


def test_criteria_without_a_limit_does_not_unlock_contact_fields(api_client):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry", "first_name"],
            "criteria": {"limit": 0, "job_level": "VP"}, "data": [{"company_name": "Acme Corp"}]}
    response = api_client.post(SUBMIT, body, format="json")
    assert response.status_code == 400
    assert response.json()["fields_to_enrich"] == "Invalid fields: ['first_name']"


def test_criteria_whitespace_entries_are_stripped_and_empty_lists_dropped(api_client):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry"],
            "criteria": {"limit": 2, "job_level": ["  ", "VP "], "job_function": ["   "], "keyword": " cloud "},
            "data": [{"company_name": "Acme Corp"}]}
    job_id = api_client.post(SUBMIT, body, format="json").json()["job_id"]
    assert Job.objects.get(job_id=job_id).criteria == {"limit": 2, "job_level": ["VP"], "keyword": ["cloud"]}


def test_fields_are_trimmed(api_client):
    response = api_client.post(SUBMIT, seed_contact_example(fields_to_enrich=[" job_title ", "contact_email"]),
                               format="json")
    assert response.status_code == 200
    assert Job.objects.get(job_id=response.json()["job_id"]).fields_to_enrich == ["job_title", "contact_email"]


# --- the seed's error bodies -------------------------------------------------------------------

def test_account_with_pro_level_is_rejected(api_client):
    body = {"type": "account", "level": "pro", "fields_to_enrich": ["industry"], "data": [{"company_name": "A"}]}
    response = api_client.post(SUBMIT, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"level": "Account enrichment only supports 'standard'."}


def test_unknown_field_is_listed(api_client):
    response = api_client.post(SUBMIT, seed_contact_example(fields_to_enrich=["job_title", "some_unknown_field"]),
                               format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["fields_to_enrich"] == "Invalid fields: ['some_unknown_field']"  # the seed's text
    assert set(body) == {"fields_to_enrich", "allowed_fields"}  # the accepted names in an added key
    assert "contact_email" in body["allowed_fields"] and "industry" in body["allowed_fields"]
    assert body["allowed_fields"] == sorted(body["allowed_fields"])


def test_account_rejects_contact_fields_without_criteria(api_client):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry", "first_name", "job_title"],
            "data": [{"company_name": "A"}]}
    response = api_client.post(SUBMIT, body, format="json")
    assert response.json()["fields_to_enrich"] == "Invalid fields: ['first_name', 'job_title']"
    assert "industry" in response.json()["allowed_fields"] and "first_name" not in response.json()["allowed_fields"]


def test_record_without_identifier_is_named(api_client):
    data = contacts(2) + [{"job_title": "CEO", "first_name": "  "}]
    response = api_client.post(SUBMIT, seed_contact_example(data=data), format="json")
    assert response.status_code == 400
    assert response.json() == {"data": f"Record 3: needs at least one of {CONTACT_IDENTIFIERS}"}


def test_account_record_without_identifier_is_named(api_client):
    body = {"type": "account", "level": "standard", "fields_to_enrich": ["industry"],
            "data": [{"company_website": "acme.com"}, {"industry": "x"}]}
    response = api_client.post(SUBMIT, body, format="json")
    assert response.json() == {"data": "Record 2: needs at least one of ['company_name', 'company_website']"}


def test_plan_limit_exceeded(api_client, alice):
    plan_assign(username=alice.username, enrichment_limit=100)
    response = api_client.post(SUBMIT, seed_contact_example(data=contacts(250)), format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "Plan limit exceeded", "limit": 100, "requested": 250}


def test_default_plan_limit_is_50_without_a_subscription(api_client):
    assert api_client.post(SUBMIT, seed_contact_example(data=contacts(50)), format="json").status_code == 200
    response = api_client.post(SUBMIT, seed_contact_example(data=contacts(51)), format="json")
    assert response.json() == {"error": "Plan limit exceeded", "limit": 50, "requested": 51}


def test_plans_above_500_are_capped_by_the_hard_limit(api_client, alice):
    plan_assign(username=alice.username, enrichment_limit=2000)
    response = api_client.post(SUBMIT, seed_contact_example(data=contacts(501)), format="json")
    assert response.status_code == 400
    assert response.json() == {"data": ["Ensure this field has no more than 500 elements."]}


def test_insufficient_credits(make_user, make_client):
    poor = make_user("poor", credits=7)
    client = make_client(poor)
    response = client.post(SUBMIT, seed_contact_example(data=contacts(2)), format="json")
    assert response.status_code == 402
    assert response.json() == {"error": "You require 10 credits, but only 7 are available."}
    assert Job.objects.count() == 0
    assert wallet_balance(user=poor) == Decimal("7")


def test_insufficient_credits_with_decimals(make_user, make_client):
    price_set(name="standard_email_cost", value=Decimal("1.25"))
    client = make_client(make_user("poor", credits="2.5"))
    response = client.post(SUBMIT, seed_contact_example(fields_to_enrich=["contact_email"], data=contacts(3)),
                           format="json")
    assert response.json() == {"error": "You require 3.75 credits, but only 2.5 are available."}


@pytest.mark.parametrize("body, errors", [
    ({"type": "person"}, {"type": ['"person" is not a valid choice.']}),
    ({"level": "quick"}, {"level": ['"quick" is not a valid choice.']}),
    ({"data": []}, {"data": ["Ensure this field has at least 1 elements."]}),
    ({"data": "Jane"}, {"data": ['Expected a list of items but got type "str".']}),
    ({"data": ["Jane"]}, {"data": {"0": ['Expected a dictionary of items but got type "str".']}}),
    ({"fields_to_enrich": []}, {"fields_to_enrich": ["This list may not be empty."]}),
    ({"fields_to_enrich": "job_title"}, {"fields_to_enrich": ['Expected a list of items but got type "str".']}),
    ({"criteria": "limit=5"}, {"criteria": {"non_field_errors": ['Invalid data. Expected a dictionary, but got str.']}}),
    ({"criteria": {"limit": -1}}, {"criteria": {"limit": ["Must be a non-negative integer."]}}),
    ({"criteria": {"limit": 2, "job_level": [3]}}, {"criteria": {"job_level": ["Must be a string or a list of strings."]}}),
])
def test_schema_errors_use_drf_field_dicts(api_client, body, errors):
    response = api_client.post(SUBMIT, seed_contact_example(**body), format="json")
    assert response.status_code == 400
    assert response.json() == errors


def test_missing_required_parameters(api_client):
    response = api_client.post(SUBMIT, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"type", "level", "data", "fields_to_enrich"}


# --- validation order: with two faults, the earlier step answers --------------------------------

def test_schema_error_comes_before_type_level(api_client):
    body = {"type": "account", "level": "pro", "fields_to_enrich": [], "data": [{"company_name": "A"}]}
    assert "fields_to_enrich" in api_client.post(SUBMIT, body, format="json").json()
    assert "level" not in api_client.post(SUBMIT, body, format="json").json()


def test_account_with_pro_level_is_rejected_before_field_validation(api_client):
    body = {"type": "account", "level": "pro", "fields_to_enrich": ["bogus"], "data": [{"x": "y"}]}
    assert api_client.post(SUBMIT, body, format="json").json() == {
        "level": "Account enrichment only supports 'standard'."}


def test_fields_are_checked_before_identifiers(api_client):
    response = api_client.post(SUBMIT, seed_contact_example(fields_to_enrich=["bogus"], data=[{"x": "y"}]),
                               format="json")
    assert response.json()["fields_to_enrich"] == "Invalid fields: ['bogus']"


def test_identifiers_are_checked_before_the_plan_limit(api_client):
    data = contacts(60)
    data[59] = {"job_title": "CEO"}
    response = api_client.post(SUBMIT, seed_contact_example(data=data), format="json")
    assert response.json() == {"data": f"Record 60: needs at least one of {CONTACT_IDENTIFIERS}"}


def test_plan_limit_is_checked_before_the_wallet(make_user, make_client):
    client = make_client(make_user("poor", credits=0))
    response = client.post(SUBMIT, seed_contact_example(data=contacts(51)), format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Plan limit exceeded"


def test_authentication_comes_first(client):
    response = client.post(SUBMIT, {"type": "nonsense"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or expired token"}


# --- bad input is a clear 4xx and changes nothing --------------------------------------------

@pytest.mark.parametrize("content_type, raw, status", [
    ("application/json", "{not json", 400),
    ("application/json", "[1, 2, 3]", 400),
    ("application/json", '"just a string"', 400),
    ("application/json", "", 400),
    ("text/plain", "type=contact", 415),
    ("application/xml", "<a/>", 415),
])
def test_malformed_bodies_get_a_4xx_and_write_nothing(api_client, alice, content_type, raw, status):
    response = api_client.generic("POST", SUBMIT, raw, content_type=content_type)
    assert response.status_code == status
    assert response.json()  # a body saying what is wrong (an empty body reads as missing parameters)
    assert Job.objects.count() == 0
    assert wallet_balance(user=alice) == Decimal("1000")


def test_record_values_may_be_strings_numbers_booleans_or_null(api_client):
    data = [{"first_name": "Jane", "last_name": None, "company_name": 42, "score": 0.5, "active": True,
             "note": "x" * 2000, "k" * 255: ""}]
    assert api_client.post(SUBMIT, seed_contact_example(data=data), format="json").status_code == 200


def post_json_text(client, path, body: dict):
    """`body` as ASCII JSON: NUL and lone surrogates travel as \\u escapes, as a hostile client sends them."""
    return client.generic("POST", path, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("record, error", [
    ({"first_name": "Ja\x00ne"}, "'first_name' contains a null character"),
    ({"first_name": "Ja\ud800ne"}, "'first_name' contains a surrogate character (U+D800)"),
    ({"first_name": "\udfff"}, "'first_name' contains a surrogate character (U+DFFF)"),
    ({"first_name": "Jane", "note": "x" * 2001}, "'note' is longer than 2000 characters"),
    ({"first_name": "Jane", "crm": {"id": 1}}, "'crm' must be a string, a number, true, false or null"),
    ({"first_name": "Jane", "tags": ["a"]}, "'tags' must be a string, a number, true, false or null"),
    ({"first_name": "Jane", "no\x00te": "x"}, "a field name contains a null character"),
    ({"first_name": "Jane", "\ud83d": "x"}, "a field name contains a surrogate character (U+D83D)"),
    ({"first_name": "Jane", "k" * 256: "x"}, "a field name is longer than 255 characters"),
])
@pytest.mark.parametrize("path", [SUBMIT, "/api/v1/enrichment/estimate/"])
def test_a_record_postgresql_cannot_store_is_a_400_naming_it_and_charges_nothing(api_client, alice, path, record,
                                                                                 error):
    data = [{"first_name": "Ann"}, {"first_name": "Bob"}, {"last_name": "Doe", **record}]
    response = post_json_text(api_client, path, seed_contact_example(data=data))
    assert response.status_code == 400
    assert response.json() == {"data": f"Record 3: {error}."}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_a_paired_surrogate_is_an_ordinary_character(api_client):
    response = post_json_text(api_client, SUBMIT, seed_contact_example(data=[{"first_name": "Jane \U0001F600"}]))
    assert response.status_code == 200
    assert Job.objects.get().input_data == [{"first_name": "Jane \U0001F600"}]


def test_record_values_are_checked_in_the_schema_step_before_type_and_level(api_client):
    body = seed_contact_example(type="account", level="pro", data=[{"company_name": "Acme\x00"}])
    assert post_json_text(api_client, SUBMIT, body).json() == {"data": "Record 1: 'company_name' contains a null "
                                                                        "character."}


def account_with_criteria(**criteria) -> dict:
    return {"type": "account", "level": "standard", "fields_to_enrich": ["industry", "first_name"],
            "criteria": {"limit": 2, **criteria}, "data": [{"company_name": "Acme Corp"}]}


@pytest.mark.parametrize("criteria, error", [
    ({"keyword": ["sales"] * 21}, "Ensure this field has no more than 20 entries."),
    ({"job_level": [f"level {index}" for index in range(100_000)]}, "Ensure this field has no more than 20 entries."),
    ({"job_function": "x" * 101}, "Ensure each entry has no more than 100 characters."),
    ({"keyword": ["cto", "a\x00"]}, "Entries must not contain a null character."),
    ({"keyword": "\ud800"}, "Entries must not contain a surrogate character (U+D800)."),
])
def test_criteria_lists_are_bounded_and_storable(api_client, alice, criteria, error):
    (name, _), = criteria.items()
    response = post_json_text(api_client, SUBMIT, account_with_criteria(**criteria))
    assert response.status_code == 400
    assert response.json() == {"criteria": {name: [error]}}
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_twenty_criteria_entries_of_a_hundred_characters_are_accepted(api_client):
    keywords = [f"{index:03d}" + "k" * 97 for index in range(20)]
    response = api_client.post(SUBMIT, account_with_criteria(keyword=keywords + ["  "] * 5), format="json")
    assert response.status_code == 200, response.json()
    assert Job.objects.get().criteria["keyword"] == keywords


@pytest.mark.parametrize("body", [
    {"type": "contact\x00"},
    {"level": "\ud800"},
    {"criteria": {"limit": 1, "\ud800": "x"}},
])
def test_an_error_quoting_hostile_input_renders_and_is_stored_for_an_idempotent_retry(api_client, alice, body):
    answers = [post_json_text(api_client, SUBMIT, {**seed_contact_example(), **body}) for _ in range(2)]
    keyed = [api_client.generic("POST", SUBMIT, json.dumps({**seed_contact_example(), **body}),
                                content_type="application/json", HTTP_IDEMPOTENCY_KEY="hostile-1") for _ in range(2)]
    assert {answer.status_code for answer in answers + keyed} == {400}
    assert keyed[1]["Idempotent-Replayed"] == "true" and keyed[1].json() == keyed[0].json() == answers[0].json()
    assert "\ufffd" in json.dumps(answers[0].json(), ensure_ascii=False)
    assert Job.objects.count() == 0 and wallet_balance(user=alice) == Decimal("1000")


def test_missing_price_is_a_clear_503_not_a_500(api_client, alice):
    from pricing.models import Price

    Price.objects.filter(name="standard_phone_cost").delete()
    response = api_client.post(SUBMIT, seed_contact_example(), format="json")
    assert response.status_code == 503
    assert "standard_phone_cost" in response.json()["error"]
    assert Job.objects.count() == 0
