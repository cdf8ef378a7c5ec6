"""Phone quality: every phone a job or a lookup delivers carries its E.164 form, its line type as
phonenumbers tells it, and its country."""

import pytest

from enrichment.tasks import run_enrichment_job
from sources.normalize import PhoneFacts, describe_phone
from tests.factories import make_company, make_person

SUBMIT = "/api/v1/enrichment/submit/"
PHONE = "/api/v1/external/phone/enrichment/"


@pytest.mark.parametrize(("value", "region", "facts"), [
    # The US plan does not tell mobiles from landlines: phonenumbers says either, and so do we.
    ("+1 512-555-0111", "US", PhoneFacts("+15125550111", "fixed_line_or_mobile", "US")),
    ("(512) 555-0111", "US", PhoneFacts("+15125550111", "fixed_line_or_mobile", "US")),
    ("+44 7400 123456", "US", PhoneFacts("+447400123456", "mobile", "GB")),
    ("07400 123456", "United Kingdom", PhoneFacts("+447400123456", "mobile", "GB")),
    ("+49 30 12345678", "US", PhoneFacts("+493012345678", "fixed_line", "DE")),
    ("030 12345678", "DE", PhoneFacts("+493012345678", "fixed_line", "DE")),
    ("+1 800-275-8777", "US", PhoneFacts("+18002758777", "toll_free", "US")),
    ("+44 800 123 4567", "US", PhoneFacts("+448001234567", "toll_free", "GB")),
    # A number of a possible length outside its plan: its E.164 form, nothing more.
    ("+1 555-123-4567", "US", PhoneFacts("+15551234567", "unknown", "")),
    ("call me", "US", PhoneFacts("", "unknown", "")),
    ("", "US", PhoneFacts("", "unknown", "")),
])
def test_describe_phone(value, region, facts):
    assert describe_phone(value, region) == facts


@pytest.fixture
def people_abroad(db):
    acme = make_company("Acme Corp", "acme.com", company_hq_phone="+1 800-275-8777")
    make_person(acme, "Amy", "Austin", contact_email="amy@acme.com", contact_mobile_phone="+1 512-555-0111",
                contact_direct_phone="+18002758777")
    make_person(acme, "Gwen", "London", contact_email="gwen@acme.com", contact_mobile_phone="+44 7400 123456")
    # DataCore keeps this one's numbers in national format: they are read in her office's country.
    make_person(acme, "Hanna", "Berlin", contact_email="hanna@acme.com", contact_direct_phone="030 12345678",
                contact_mobile_phone="01512 3456789", contact_office_country_code="DE")
    return acme


def phone_columns(row: dict, name: str) -> tuple[str, str, str, str]:
    return row[name], row[f"{name}_e164"], row[f"{name}_type"], row[f"{name}_country"]


def test_a_job_delivers_each_phone_with_its_e164_form_type_and_country(api_client, people_abroad):
    response = api_client.post(SUBMIT, {
        "type": "contact", "level": "standard",
        "fields_to_enrich": ["contact_mobile_phone", "contact_direct_phone", "company_hq_phone"],
        "data": [{"contact_email": email} for email in ("amy@acme.com", "gwen@acme.com", "hanna@acme.com",
                                                        "nobody@acme.com")]}, format="json")
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)

    amy, gwen, hanna, nobody = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert phone_columns(amy, "contact_mobile_phone") == ("+1 512-555-0111", "+15125550111", "fixed_line_or_mobile",
                                                          "US")
    assert phone_columns(amy, "contact_direct_phone") == ("+18002758777", "+18002758777", "toll_free", "US")
    assert phone_columns(amy, "company_hq_phone") == ("+1 800-275-8777", "+18002758777", "toll_free", "US")
    assert phone_columns(gwen, "contact_mobile_phone") == ("+44 7400 123456", "+447400123456", "mobile", "GB")
    assert phone_columns(gwen, "contact_direct_phone") == ("", "", "", "")
    assert phone_columns(hanna, "contact_direct_phone") == ("030 12345678", "+493012345678", "fixed_line", "DE")
    assert phone_columns(hanna, "contact_mobile_phone") == ("01512 3456789", "+4915123456789", "mobile", "DE")
    assert phone_columns(nobody, "contact_mobile_phone") == ("", "", "", "")

    columns = api_client.get(f"/api/v1/enrichment/results/{job_id}/", {"format": "csv"}).content.decode(
        "utf-8-sig").splitlines()[0].split(",")
    assert columns[:4] == ["contact_mobile_phone", "contact_mobile_phone_e164", "contact_mobile_phone_type",
                           "contact_mobile_phone_country"]


@pytest.mark.django_db
def test_the_phone_endpoint_adds_the_phones_e164_form_type_and_country_to_the_seeds_results(make_user, make_client,
                                                                                          people_abroad):
    client = make_client(make_user("caller", credits=20), scheme="Token")

    gwen = client.post(PHONE, {"email": "gwen@acme.com"}, format="json").json()
    hanna = client.post(PHONE, {"first_name": "Hanna", "last_name": "Berlin", "company_name": "Acme Corp"},
                        format="json").json()

    assert gwen["status"] == "success" and gwen["remaining_credits"] == 15
    assert {name: gwen["results"][name] for name in ("phone", "email", "phone_e164", "phone_type", "phone_country")} == {
        "phone": "+44 7400 123456", "email": "gwen@acme.com", "phone_e164": "+447400123456", "phone_type": "mobile",
        "phone_country": "GB"}
    # The mobile first, as the seed's endpoint always answered.
    assert (hanna["results"]["phone"], hanna["results"]["phone_type"], hanna["results"]["phone_country"]) == (
        "01512 3456789", "mobile", "DE")
