"""What any API endpoint answers to a body it cannot take: too deep, too large, too many fields.

A refused body is a 4xx with the API's `{"error": ...}`, never Django's HTML page or a 500, and it
creates and charges nothing.
"""

import json
from decimal import Decimal

import pytest
from django.test.client import encode_multipart
from django.urls import URLResolver, get_resolver

from ecore.parsers import MAX_JSON_DEPTH, JSONParser, json_loads, nested_deeper_than
from enrichment.apis import EstimateApi, SubmitApi
from enrichment.models import Job
from enrichment.single_apis import EmailEnrichmentApi, PersonCompanyEnrichmentApi, PhoneEnrichmentApi
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
ESTIMATE = "/api/v1/enrichment/estimate/"
PHONE = "/api/v1/external/phone/enrichment/"
EMAIL = "/api/v1/external/email/enrichment/"
SINGLE = "/api/v1/enrichment/single/"
CONTROL = "/api/v1/enrichment-control/"
JSON_ENDPOINTS = [SUBMIT, ESTIMATE, PHONE, EMAIL, SINGLE, CONTROL]
TOO_DEEP = {"error": "Malformed request body: JSON parse error - JSON nested more than 64 levels deep."}
TOO_LARGE = {"error": "The request is too large. The maximum size is 10 MB."}
TOO_MANY_FIELDS = {"error": "The request has more than 1000 fields."}
BOUNDARY = "BoUnDaRy"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def submit_body(**overrides) -> dict:
    body = {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
            "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}]}
    body.update(overrides)
    return body


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_raw(client, path, body: bytes | str, content_type="application/json"):
    return client.post(path, data=body, content_type=content_type)


def assert_nothing_created_or_charged(user):
    assert Job.objects.count() == 0
    assert wallet_balance(user=user) == Decimal("1000")


# --- depth ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 950, 100_000])
def test_json_nested_too_deep_is_a_400_on_every_endpoint(api_client, alice, path, depth):
    response = post_raw(api_client, path, nested_lists(depth))
    assert (response.status_code, response.json()) == (400, TOO_DEEP)
    assert_nothing_created_or_charged(alice)


def test_a_deep_value_inside_a_submit_is_refused_before_anything_is_charged(api_client, alice):
    body = json.dumps(submit_body(data=[{"first_name": "Jane", "last_name": "Doe", "crm": "x"}]))
    response = post_raw(api_client, SUBMIT, body.replace('"crm": "x"', f'"crm": {nested_lists(950)}'))
    assert (response.status_code, response.json()) == (400, TOO_DEEP)
    assert_nothing_created_or_charged(alice)


def test_the_parser_takes_documents_up_to_the_depth_limit():
    assert json_loads(nested_lists(MAX_JSON_DEPTH)) is not None
    assert not nested_deeper_than(json.loads(nested_lists(MAX_JSON_DEPTH)), MAX_JSON_DEPTH)
    assert nested_deeper_than(json.loads(nested_lists(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH)
    assert not nested_deeper_than({"a": [1, {"b": 2}]}, 3) and nested_deeper_than({"a": [1, {"b": []}]}, 3)
    assert not nested_deeper_than("scalar", 0)


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_number_too_large_for_a_float_is_a_400_not_a_500(api_client, alice, number):
    body = json.dumps(submit_body()).replace('"Acme"', number)
    response = post_raw(api_client, SUBMIT, body)
    assert response.status_code == 400
    assert response.json() == {"error": "Malformed request body: JSON parse error - Out of range float values "
                                        f"are not JSON compliant: {number}"}
    assert_nothing_created_or_charged(alice)


def api_views(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_views(pattern.url_patterns, route)
        elif route.startswith("api/") and hasattr(pattern.callback, "cls"):
            yield pattern.callback.cls


def test_every_api_view_parses_json_with_the_bounded_parser():
    views = set(api_views())
    assert {SubmitApi, EstimateApi, PhoneEnrichmentApi, EmailEnrichmentApi, PersonCompanyEnrichmentApi} <= views
    for view in views:
        json_parsers = [parser for parser in view().get_parsers() if parser.media_type == "application/json"]
        assert json_parsers and all(isinstance(parser, JSONParser) for parser in json_parsers), view


# --- size -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_json_body_over_the_upload_cap_is_a_413_with_the_apis_error(api_client, alice, path):
    body = json.dumps(submit_body(data=[{"first_name": "J" * (12 * 1024 * 1024), "last_name": "Doe"}]))
    response = post_raw(api_client, path, body)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == TOO_LARGE
    assert_nothing_created_or_charged(alice)


@pytest.mark.parametrize("path", [SUBMIT, ESTIMATE])
def test_a_form_field_over_the_upload_cap_is_a_413(api_client, alice, path):
    fields = {"type": "contact", "level": "standard", "fields_to_enrich": "job_title",
              "data": json.dumps([{"first_name": "J" * (12 * 1024 * 1024)}])}
    response = post_raw(api_client, path, encode_multipart(BOUNDARY, fields), MULTIPART)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert_nothing_created_or_charged(alice)


def test_a_urlencoded_body_over_the_upload_cap_is_a_413(api_client, alice):
    response = post_raw(api_client, SUBMIT, "type=" + "x" * (12 * 1024 * 1024), "application/x-www-form-urlencoded")
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert_nothing_created_or_charged(alice)


def test_more_form_fields_than_the_limit_is_a_413(api_client, alice):
    fields = {"type": "contact", "level": "standard", "fields_to_enrich": "job_title",
              **{f"extra_{index}": "x" for index in range(5000)}}
    multipart = post_raw(api_client, SUBMIT, encode_multipart(BOUNDARY, fields), MULTIPART)
    urlencoded = post_raw(api_client, SUBMIT, "&".join(f"extra_{index}=x" for index in range(5000)),
                          "application/x-www-form-urlencoded")
    assert (multipart.status_code, multipart.json()) == (413, TOO_MANY_FIELDS)
    assert (urlencoded.status_code, urlencoded.json()) == (413, TOO_MANY_FIELDS)
    assert_nothing_created_or_charged(alice)


def test_the_form_field_limit_leaves_a_normal_submit_alone(api_client, alice):
    fields = {"type": "contact", "level": "standard", "fields_to_enrich": "job_title",
              "data": json.dumps([{"first_name": "Jane", "last_name": "Doe"}])}
    response = post_raw(api_client, ESTIMATE, encode_multipart(BOUNDARY, fields), MULTIPART)
    assert response.status_code == 200, response.json()


def test_a_body_declared_larger_than_any_valid_submit_is_refused_before_it_is_read(api_client, alice):
    declared = 20 * 1024 * 1024 + 1  # a file at the upload cap plus fields at theirs, and a byte
    response = api_client.generic("POST", SUBMIT, data=b"{}", content_type="application/json",
                                  CONTENT_LENGTH=str(declared))
    assert response.status_code == 413
    assert json.loads(response.content) == TOO_LARGE
    assert_nothing_created_or_charged(alice)


def test_the_size_check_applies_to_the_api_only(client):
    response = client.get("/admin/login/", CONTENT_LENGTH=str(50 * 1024 * 1024))
    assert response.status_code == 200
