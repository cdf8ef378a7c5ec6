"""POST /api/v1/enrichment/single/ — a person and their company in one call, priced like a one-row job."""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS
from tests.factories import make_company, make_person
from wallet.models import LedgerEntry
from wallet.selectors import wallet_balance

SINGLE = "/api/v1/enrichment/single/"
INPUT_ERROR = ("Provide person.email, person.linkedin_url, or person.first_name + person.last_name with company.name "
               "or company.website; or company.name / company.website for a company-only lookup.")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    """A nameserver that refuses at once: no lookups leave the machine and verdicts do not depend on them."""
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


@pytest.fixture
def acme(db):
    holdings = make_company("Acme Holdings", "acmeholdings.com", industry="Holding Companies")
    acme = make_company("Acme Corp", "https://www.acme.com", industry="Software", company_hq_city="Austin",
                        company_hq_country="United States", parent=holdings)
    make_company("Acme Labs", "acmelabs.com", parent=acme)
    make_company("Acme Secret Projects", "acmesecret.com", parent=acme, opted_out=True)
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales",
                contact_linkedin_url="https://www.linkedin.com/in/janedoe", contact_mobile_phone="+15125550111")
    make_person(acme, "Robert", "Smith", contact_email="rsmith@acme.com", job_title="CTO")
    return acme


@pytest.fixture
def client(make_client, alice):
    return make_client(alice)


def post(client, body):
    return client.post(SINGLE, body, format="json")


def test_a_person_at_a_company_gets_person_firmographics_confidence_and_family_tree(client, alice, acme):
    custom_fields = [{"name": "segment", "value": "enterprise"}, {"name": "score", "value": None}]
    response = post(client, {
        "person": {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@acme.com", "title": "VP"},
        "company": {"name": "Acme Corp", "website": "acme.com", "address": {"country": "US", "city": "Austin"}},
        "external_id": "crm-42", "custom_fields": custom_fields,
    })
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "success"
    assert body["external_id"] == "crm-42" and body["custom_fields"] == custom_fields
    assert body["charged_credits"] == "5" and body["remaining_credits"] == 995
    assert wallet_balance(user=alice) == Decimal("995")

    data = body["data"]
    assert data["enrichment_status"] == "partially_enriched"  # not every requested field is known
    person = data["person"]
    assert set(CONTACT_FIELDS) <= set(person)
    assert person["first_name"] == "Jane" and person["job_title"] == "VP Sales"
    assert person["contact_email"] == "jane.doe@acme.com" and person["contact_mobile_phone"] == "+15125550111"
    assert person["contact_linkedin_url"] == "https://www.linkedin.com/in/janedoe"
    assert person["verification_status"] == "Verified" and person["verification_source"] == "datacore"
    assert person["match_confidence"] >= 90

    company = data["company"]
    assert set(ACCOUNT_FIELDS) <= set(company)
    assert company["company_name"] == "Acme Corp" and company["industry"] == "Software"
    assert company["matching_confidence"]["score"] >= 85 and company["matching_confidence"]["level"] == "High"
    tree = company["family_tree"]
    assert tree["parent"]["company_name"] == "Acme Holdings"
    assert tree["parent"]["industry"] == "Holding Companies"
    assert [subsidiary["company_name"] for subsidiary in tree["subsidiaries"]] == ["Acme Labs"]


def test_a_company_alone_is_an_account_lookup_at_the_account_price(client, alice, acme):
    body = post(client, {"company": {"website": "https://acme.com"}}).json()
    assert body["status"] == "success"
    assert body["charged_credits"] == "1" and body["remaining_credits"] == 999
    assert body["external_id"] is None and body["custom_fields"] == []
    assert body["data"]["person"] is None
    company = body["data"]["company"]
    assert set(company) == {*ACCOUNT_FIELDS, "matching_confidence", "family_tree", "company_hq_phone_e164",
                            "company_hq_phone_type", "company_hq_phone_country"}
    assert (company["company_hq_phone_e164"], company["company_hq_phone_type"],
            company["company_hq_phone_country"]) == ("+15125550100", "fixed_line_or_mobile", "US")
    assert company["company_name"] == "Acme Corp"
    assert company["matching_confidence"]["level"] == "High"
    assert company["family_tree"]["parent"]["company_name"] == "Acme Holdings"


def test_requested_fields_limit_the_answer_and_set_the_price(client, alice, acme):
    body = post(client, {"person": {"linkedin_url": "linkedin.com/in/janedoe"},
                         "fields_to_enrich": ["contact_email", "job_title"]}).json()
    assert body["charged_credits"] == "2" and body["remaining_credits"] == 998
    assert body["data"]["enrichment_status"] == "enriched"
    person = body["data"]["person"]
    assert {key: person[key] for key in ("contact_email", "job_title")} == {
        "contact_email": "jane.doe@acme.com", "job_title": "VP Sales"}
    assert "contact_mobile_phone" not in person
    assert set(body["data"]["company"]) == {"matching_confidence", "family_tree"}


def test_nothing_found_is_not_found_and_free(client, alice, acme):
    body = post(client, {"person": {"first_name": "Nobody", "last_name": "Known"},
                         "company": {"name": "Ghost LLC"}}).json()
    assert body["status"] == "not_found"
    assert body["data"]["enrichment_status"] == "not_enriched"
    assert body["data"]["person"]["verification_status"] == "Unverified"
    assert body["data"]["person"]["match_confidence"] == 0
    assert body["data"]["company"]["matching_confidence"] == {"score": 0, "level": "None"}
    assert body["data"]["company"]["family_tree"] == {"parent": None, "subsidiaries": []}
    assert body["charged_credits"] == "0" and body["remaining_credits"] == 1000
    assert not LedgerEntry.objects.filter(wallet__user=alice, kind=LedgerEntry.Kind.DEDUCTION).exists()


def test_a_phone_priced_lookup_that_finds_no_phone_is_free_as_a_job_row_would_be(client, alice, acme):
    body = post(client, {"person": {"email": "rsmith@acme.com"}}).json()
    assert body["status"] == "success"
    assert body["data"]["person"]["job_title"] == "CTO"
    assert body["charged_credits"] == "0" and wallet_balance(user=alice) == Decimal("1000")


def test_an_unknown_person_at_a_known_company_still_gets_the_company_free(client, alice, acme):
    body = post(client, {"person": {"first_name": "Nobody", "last_name": "Known"},
                         "company": {"name": "Acme Corp"}}).json()
    assert body["status"] == "success"
    assert body["data"]["enrichment_status"] == "partially_enriched"
    assert body["data"]["person"]["verification_status"] == "Unverified"
    assert body["data"]["company"]["company_name"] == "Acme Corp"
    assert body["data"]["company"]["family_tree"]["subsidiaries"][0]["company_name"] == "Acme Labs"
    assert body["charged_credits"] == "0"


def test_a_match_below_min_confidence_is_withheld_and_free(client, alice, acme):
    body = post(client, {"person": {"first_name": "Jane", "last_name": "Doe"}, "company": {"name": "Acme Corp"},
                         "fields_to_enrich": ["contact_email"], "min_confidence": 95}).json()
    assert body["status"] == "not_found"
    assert body["data"]["person"]["verification_status"] == "Low Confidence"
    assert body["data"]["person"]["contact_email"] == ""
    assert body["charged_credits"] == "0"


def test_a_profile_whose_name_contradicts_the_input_is_not_taken_for_the_person(client, alice, acme):
    body = post(client, {"person": {"first_name": "Margaret", "last_name": "Thornton",
                                    "linkedin_url": "https://www.linkedin.com/in/janedoe"}}).json()
    assert body["status"] == "not_found"
    assert body["data"]["person"]["verification_status"] == "Unverified"
    assert body["data"]["person"]["contact_email"] == ""
    assert wallet_balance(user=alice) == Decimal("1000")


def test_an_opted_out_company_is_never_returned(client, acme):
    make_company("Private Co", "privateco.com", opted_out=True)
    body = post(client, {"company": {"website": "privateco.com"}}).json()
    assert body["status"] == "not_found" and body["data"]["company"]["company_name"] == ""


def test_a_given_phone_is_validated_in_the_companys_country(client, acme):
    person = {"email": "jane.doe@acme.com", "phone": "020 7946 0958"}
    body = post(client, {"person": person, "company": {"address": {"country": "United Kingdom"}}}).json()
    assert body["data"]["person"]["data_validation"] == {
        "phone": {"status": "Valid", "normalized_value": "+442079460958"}}
    body = post(client, {"person": {**person, "phone": "12"}}).json()
    assert body["data"]["person"]["data_validation"]["phone"] == {"status": "Invalid", "normalized_value": ""}


@pytest.mark.parametrize(("body", "missing"), [
    ({}, ["person.email", "person.linkedin_url", "person.first_name", "person.last_name", "company.name",
          "company.website"]),
    ({"person": {"title": "CTO"}, "company": {"address": {"city": "Austin"}}},
     ["person.email", "person.linkedin_url", "person.first_name", "person.last_name", "company.name",
      "company.website"]),
    ({"person": {"first_name": "Jane"}}, ["person.last_name", "company.name", "company.website"]),
    ({"person": {"first_name": "Jane", "last_name": "Doe"}}, ["company.name", "company.website"]),
    ({"person": {"last_name": "Doe", "email": "not-an-email"}, "company": {"name": "Acme"}},
     ["person.first_name"]),
    ({"company": {"website": "acme.com"}, "fields_to_enrich": ["contact_email"]},
     ["person.email", "person.linkedin_url", "person.first_name", "person.last_name"]),
])
def test_insufficient_inputs_are_a_400_naming_what_is_missing(client, alice, acme, body, missing):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": INPUT_ERROR, "missing": missing}
    assert response["X-Remaining-Credits"] == "1000"
    assert wallet_balance(user=alice) == Decimal("1000")


def test_malformed_parts_are_field_errors(client, acme):
    response = post(client, {"person": "Jane", "min_confidence": 101, "fields_to_enrich": ["contact_email"]})
    assert response.status_code == 400
    assert set(response.json()) == {"person", "min_confidence"}
    response = post(client, {"person": {"email": "jane.doe@acme.com"}, "fields_to_enrich": ["bogus"]})
    assert response.json()["fields_to_enrich"] == "Invalid fields: ['bogus']"


def test_a_wallet_that_cannot_pay_the_price_is_a_402_before_any_lookup(make_user, make_client, acme):
    user = make_user("three", credits=3)
    response = post(make_client(user), {"person": {"email": "jane.doe@acme.com"}})
    assert response.status_code == 402
    assert response.json() == {"error": "You require 5 credits, but only 3 are available."}
    assert response["X-Remaining-Credits"] == "3"
    cheaper = post(make_client(user), {"person": {"email": "jane.doe@acme.com"}, "fields_to_enrich": ["job_title"]})
    assert cheaper.status_code == 200 and cheaper.json()["charged_credits"] == "2"


def test_a_bad_token_gets_the_apis_usual_401(acme):
    response = APIClient().post(SINGLE, {"company": {"name": "Acme Corp"}}, format="json")
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or expired token"}


def test_the_family_tree_is_the_parent_then_the_first_hundred_subsidiaries_by_name_in_one_query(
        django_assert_num_queries):
    from enrichment.single import company_family_tree

    parent = make_company("Globex Holdings", "globexholdings.com")
    globex = make_company("Globex", "globex.com", parent=parent)
    for number in reversed(range(102)):
        make_company(f"Globex Unit {number:03d}", f"globex{number}.com", parent=globex)
    make_company("Globex Aaa Hidden", "globexhidden.com", parent=globex, opted_out=True)
    company = {"id": globex.id, "parent_id": parent.id}

    with django_assert_num_queries(1):
        tree = company_family_tree(company=company)

    assert tree["parent"]["company_name"] == "Globex Holdings"
    assert [unit["company_name"] for unit in tree["subsidiaries"]] == [
        f"Globex Unit {number:03d}" for number in range(100)]
    parent.opted_out = True
    parent.save()
    assert company_family_tree(company=company)["parent"] is None
    top = company_family_tree(company={"id": parent.id, "parent_id": None})
    assert top["parent"] is None and [unit["company_name"] for unit in top["subsidiaries"]] == ["Globex"]



@pytest.mark.parametrize("name, error", [
    ("x" * 256, "Ensure this field has no more than 255 characters."),
    ("seg\x00ment", "Null characters are not allowed."),
    ({"nested": "name"}, "Not a valid string."),
])
def test_a_custom_field_name_the_serializer_refuses_is_a_400_before_any_charge(client, alice, acme, name, error):
    response = post(client, {"person": {"email": "jane.doe@acme.com"},
                             "custom_fields": [{"name": name, "value": "enterprise"}]})
    assert response.status_code == 400
    assert response.json() == {"custom_fields": {"0": {"name": [error]}}}
    assert wallet_balance(user=alice) == Decimal("1000") and not LedgerEntry.objects.filter(kind="deduction").exists()


@pytest.mark.parametrize("value, error", [
    ("enter\x00prise", "Must not contain a null character."),
    ({"tier": ["gold", "\ud800"]}, "Must not contain a surrogate character (U+D800)."),
    ({"\x00": 1}, "Must not contain a null character."),
])
def test_a_custom_field_value_that_could_not_be_echoed_is_a_400_before_any_charge(client, alice, acme, value, error):
    body = {"person": {"email": "jane.doe@acme.com"}, "custom_fields": [{"name": "segment", "value": value}]}
    response = client.generic("POST", SINGLE, json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"custom_fields": {"0": {"value": [error]}}}
    assert wallet_balance(user=alice) == Decimal("1000") and not LedgerEntry.objects.filter(kind="deduction").exists()


def test_a_custom_field_value_nested_too_deep_is_a_400_before_any_charge(client, alice, acme):
    body = ('{"person": {"email": "jane.doe@acme.com"}, "custom_fields": [{"name": "crm", "value": '
            + "[" * 950 + "]" * 950 + "}]}")
    response = client.generic("POST", SINGLE, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "Malformed request body: JSON parse error - JSON nested more than 64 levels "
                                        "deep."}
    assert wallet_balance(user=alice) == Decimal("1000")
