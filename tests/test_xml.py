"""`Accept: application/xml` gives the same documents as XML, errors included; JSON stays the default."""

import json
from decimal import Decimal
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring

from ecore.renderers import XMLRenderer, xml_name
from enrichment.tasks import run_enrichment_job
from tests.factories import make_company, make_person
from tokens.models import ApiToken

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
XML = {"HTTP_ACCEPT": "application/xml"}
CONTACT_JOB = {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
               "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}]}


def xml_of(response) -> Element:
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    root = fromstring(response.content)
    assert root.tag == "response"
    return root


def children(element: Element) -> dict[str, str | None]:
    return {child.tag: child.text for child in element}


@pytest.fixture
def acme(db):
    make_person(make_company("Acme Corp", "acme.com"), "Jane", "Doe", job_title="VP Sales")


def test_submit_answers_in_xml(api_client, acme):
    response = api_client.post(SUBMIT, CONTACT_JOB, format="json", **XML)
    assert response.status_code == 200
    body = children(xml_of(response))
    assert body["status"] == "submitted" and body["estimated_credits"] == "2"
    assert body["message"] == "Enrichment job submitted successfully" and len(body["job_id"]) == 36


def test_a_seed_validation_error_is_its_body_in_xml(api_client):
    response = api_client.post(SUBMIT, {**CONTACT_JOB, "type": "account", "level": "pro"}, format="json", **XML)
    assert response.status_code == 400
    assert children(xml_of(response)) == {"level": "Account enrichment only supports 'standard'."}


def test_a_field_error_list_is_repeated_items(api_client):
    response = api_client.post(SUBMIT, {**CONTACT_JOB, "webhook_url": "http://example.com/x"}, format="json", **XML)
    assert response.status_code == 400
    [field] = xml_of(response)
    assert field.tag == "webhook_url" and [item.tag for item in field] == ["item"]
    assert field[0].text.startswith("Webhook URLs must use https")


@pytest.mark.parametrize("authorization", [None, "Bearer sk_live_not-a-real-token"])
def test_unauthorized_is_xml(client, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.post(SUBMIT, json.dumps(CONTACT_JOB), content_type="application/json", **XML, **headers)
    assert response.status_code == 401
    assert children(xml_of(response)) == {"message": "Invalid or expired token"}


def test_insufficient_credits_and_an_exhausted_test_token_are_xml(make_user, make_client):
    poor = make_client(make_user("poor", credits=1))
    response = poor.post(SUBMIT, CONTACT_JOB, format="json", **XML)
    assert response.status_code == 402
    assert children(xml_of(response)) == {"error": "You require 2 credits, but only 1 are available."}

    capped = make_client(make_user("capped", credits=100), kind=ApiToken.Kind.TEST, daily_limit=0)
    response = capped.post(SUBMIT, CONTACT_JOB, format="json", **XML)
    assert response.status_code == 429
    error = xml_of(response).find("error")
    assert children(error) == {"message": "Daily usage limit exceeded for this test token.", "current_usage": "0",
                               "daily_limit": "0", "resets_at": "midnight UTC"}


def test_estimate_status_list_and_control_answer_in_xml(api_client, acme):
    estimate = api_client.post("/api/v1/enrichment/estimate/", CONTACT_JOB, format="json", **XML)
    assert children(xml_of(estimate))["estimated_credits_exact"] == "2"

    job_id = api_client.post(SUBMIT, CONTACT_JOB, format="json").json()["job_id"]
    run_enrichment_job(job_id)
    status = xml_of(api_client.get(f"/api/v1/enrichment/status/{job_id}/", **XML))
    assert status.findtext("job_id") == job_id and status.findtext("status") == "Enrichment Completed"
    assert status.findtext("progress/rows_processed") == "1" and status.findtext("progress/percent") == "100.0"
    assert [item.text for item in status.find("fields_to_enrich")] == ["job_title"]
    assert "datacore" in [stage.findtext("name") for stage in status.find("stages")]
    assert status.findtext("pause_requested") == "false"
    assert status.find("failure").text is None and len(status.find("failure")) == 0
    assert len(status.find("webhooks")) == 0

    listing = xml_of(api_client.get("/api/v1/enrichment/status/", **XML))
    assert listing.findtext("count") == "1" and listing.findtext("results/item/job_id") == job_id

    second = api_client.post(SUBMIT, CONTACT_JOB, format="json").json()["job_id"]
    control = api_client.post("/api/v1/enrichment-control/", {"job_id": second, "action": "pause"}, format="json",
                              **XML)
    assert control.status_code == 200
    assert children(xml_of(control)) | {"message": None} == {
        "job_id": second, "action": "pause", "status": "Paused", "message": None}
    refused = api_client.post("/api/v1/enrichment-control/", {"job_id": second, "action": "pause"}, format="json",
                              **XML)
    assert refused.status_code == 400 and xml_of(refused).findtext("error").startswith("Cannot pause")


@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_json_stays_the_default(api_client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api_client.get("/api/v1/enrichment/status/", **headers)
    assert response["Content-Type"] == "application/json"
    assert response.json()["count"] == 0


def test_results_downloads_keep_their_formats_under_an_xml_accept(api_client, acme):
    job_id = api_client.post(SUBMIT, CONTACT_JOB, format="json").json()["job_id"]
    run_enrichment_job(job_id)
    csv = api_client.get(f"/api/v1/enrichment/results/{job_id}/?format=csv", **XML)
    assert csv["Content-Type"].startswith("text/csv") and b"VP Sales" in csv.content
    xlsx = api_client.get(f"/api/v1/enrichment/results/{job_id}/?format=xlsx", **XML)
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert api_client.get(f"/api/v1/enrichment/results/{job_id}/?format=json").json()["count"] == 1


def test_keys_that_are_not_xml_names_are_sanitized_and_kept_in_an_attribute():
    rendered = XMLRenderer().render({
        "1st name": "x", "a:b": 1, "": None, "ok_name": [1, {"n": 2}], "flag": True, "amount": Decimal("2.50"),
        "text": "bell\x07 & <tag>", "naïve": "ü",
    })
    root = fromstring(rendered)
    assert [(child.tag, child.get("key")) for child in root] == [
        ("_1st_name", "1st name"), ("a_b", "a:b"), ("_", ""), ("ok_name", None), ("flag", None),
        ("amount", None), ("text", None), ("naïve", None)]
    assert root.find("_").text is None
    assert [item.text for item in root.find("ok_name")] == ["1", None]
    assert root.findtext("ok_name/item/n") == "2"
    assert root.findtext("flag") == "true" and root.findtext("amount") == "2.50"
    assert root.findtext("text") == "bell\ufffd & <tag>"
    assert xml_name("-x") == "_-x" and xml_name(".x y") == "_.x_y" and xml_name("x-1.2") == "x-1.2"
    assert XMLRenderer().render(None) == b""
    top_level_list = fromstring(XMLRenderer().render([{"a": 1}, "b"]))
    assert [child.tag for child in top_level_list] == ["item", "item"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/xml", "text/html", "",
                                    "application/xml;q=0.5, application/json", "application/json; indent=2"])
def test_the_quick_negotiation_chooses_what_drfs_would(rf, accept):
    from rest_framework.exceptions import NotAcceptable
    from rest_framework.negotiation import DefaultContentNegotiation
    from rest_framework.renderers import JSONRenderer
    from rest_framework.request import Request

    from ecore.renderers import JsonFirstNegotiation, XMLRenderer

    request = Request(rf.get("/", **({"HTTP_ACCEPT": accept} if accept is not None else {})))
    renderers = [JSONRenderer(), XMLRenderer()]

    def choice(negotiation):
        try:
            renderer, media_type = negotiation.select_renderer(request, renderers)
        except NotAcceptable:
            return "406"
        return type(renderer), media_type

    assert choice(JsonFirstNegotiation()) == choice(DefaultContentNegotiation())
