"""What any API endpoint answers to a body it cannot take: JSON too deep or out of range.

A refused body is a 4xx with the API's `{"error": ...}`, never Django's HTML page or a 500, and it
creates and charges nothing.
"""

import json
from decimal import Decimal

import pytest
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
