"""The OpenAPI schema documents what the API answers (tests/test_api_fuzz.py checks the answers against it)."""

from itertools import combinations

import pytest
from django.core.management import call_command

from ecore.exceptions import ValidationFailed
from enrichment.single import CONTACT_LOOKUP_COMBINATIONS, contact_lookup_record

PHONE, EMAIL = "/api/v1/external/phone/enrichment/", "/api/v1/external/email/enrichment/"
USABLE_LOOKUP_INPUTS = {"linkedin_url": "https://www.linkedin.com/in/janedoe", "email": "jane.doe@acme.com",
                        "first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp",
                        "company_website": "acme.com"}


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_schema_validates_and_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_every_operation_documents_the_seed_401_bodies_of_its_endpoint(schema):
    seed_001 = {"type": "object", "required": ["detail"], "additionalProperties": False,
                "properties": {"detail": {"type": "string", "enum": ["Invalid token."]}}}
    seed_000 = {"type": "object", "required": ["message"], "additionalProperties": False,
                "properties": {"message": {"type": "string",
                                           "enum": ["Invalid or expired token", "User is inactive or deleted"]}}}
    for path, method, operation in _operations(schema):
        assert operation["security"] == [{"ApiToken": []}], (method, path)
        documented = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert documented == (seed_001 if path in (PHONE, EMAIL) else seed_000), (method, path)
        assert "429" in operation["responses"], (method, path)


def test_operations_that_read_a_body_document_malformed_oversized_and_unsupported_bodies(schema):
    for path, method, operation in _operations(schema):
        reads_body = "requestBody" in operation
        assert ("415" in operation["responses"]) is reads_body, (method, path)
        if reads_body:
            assert {"400", "413"} <= set(operation["responses"]), (method, path)


def test_results_and_the_ledger_document_their_downloads(schema):
    results = schema["paths"]["/api/v1/enrichment/results/{job_id}/"]["get"]["responses"]["200"]
    assert set(results["content"]) == {"application/json", "application/xml", "text/csv",
                                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    ledger = schema["paths"]["/api/v1/account/ledger/"]["get"]["responses"]["200"]
    assert set(ledger["content"]) == {"application/json", "application/xml", "text/csv"}


@pytest.mark.parametrize(("path", "method", "codes"), [
    ("/api/v1/enrichment/submit/", "post", {"200", "400", "402", "409", "413", "503"}),
    ("/api/v1/enrichment/estimate/", "post", {"200", "400", "402", "413", "503"}),
    ("/api/v1/enrichment-control/", "post", {"200", "400", "402", "404", "503"}),
    ("/api/v1/enrichment/status/{job_id}/", "get", {"200", "404"}),
    ("/api/v1/enrichment/status/", "get", {"200", "400", "404"}),
    ("/api/v1/account/usage/", "get", {"200", "400", "404"}),
    ("/api/v1/account/ledger/", "get", {"200", "400", "404"}),
    (PHONE, "post", {"200", "400", "402", "429", "503"}),
    (EMAIL, "post", {"200", "400", "402", "429", "503"}),
    ("/api/v1/enrichment/single/", "post", {"200", "400", "402", "429", "503"}),
])
def test_each_endpoint_documents_the_errors_it_raises(schema, path, method, codes):
    assert codes <= set(schema["paths"][path][method]["responses"])


def test_submit_documents_its_idempotency_key(schema):
    parameters = schema["paths"]["/api/v1/enrichment/submit/"]["post"]["parameters"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= parameters[0].items()


def test_phone_and_email_document_the_input_combinations_their_400_enforces(schema):
    for path in (PHONE, EMAIL):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        request = schema["components"]["schemas"][body["$ref"].rpartition("/")[2]]
        assert request["anyOf"] == [{"required": list(names)} for names in CONTACT_LOOKUP_COMBINATIONS]
    for names in CONTACT_LOOKUP_COMBINATIONS:
        contact_lookup_record({name: USABLE_LOOKUP_INPUTS[name] for name in names})
        for fewer in combinations(names, len(names) - 1):
            with pytest.raises(ValidationFailed):
                contact_lookup_record({name: USABLE_LOOKUP_INPUTS[name] for name in fewer})
