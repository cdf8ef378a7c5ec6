"""Single-record endpoints: phone and email lookups (seed 001) and person + company enrichment."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ecore.exceptions import INACTIVE_USER, INVALID_TOKEN, ValidationFailed, format_credits
from enrichment.single import (
    ContactLookup,
    contact_lookup_record,
    email_lookup,
    lookup_max_age_days,
    lookup_min_confidence,
    person_company_enrich,
    person_company_request,
    phone_lookup,
    remaining_credits,
)
from enrichment.validation import FieldNamesField
from tokens.ratelimit import RateLimitDecision, RateLimitExceeded, rate_limit_hit

SEED_001_AUTH_ERROR_BODIES = {INVALID_TOKEN: {"detail": "Invalid token."}, INACTIVE_USER: {"detail": "Invalid token."}}

ERROR_BODY = inline_serializer("SingleErrorBody", {"error": serializers.CharField()})
RATE_LIMIT_HEADERS_NOTE = ("Every answer to an authenticated request carries X-RateLimit-Limit, X-RateLimit-Remaining, "
                           "X-RateLimit-Reset (seconds), X-Remaining-Credits and X-Credits-Remaining (the same whole "
                           "credits); a lookup that was answered also X-Credits-Charged and X-Charge-Reason (charged, "
                           "already_paid for values paid for within repeat_free_days, or why nothing was found). A "
                           'spend cap that the price would pass is a 402 {"error": "Spend cap reached", "cap", '
                           '"limit", "spent", "requested", "resets_at"}.')
CONTACT_LOOKUP_REQUEST = inline_serializer("ContactLookupRequest", {
    "linkedin_url": serializers.CharField(required=False),
    "email": serializers.CharField(required=False),
    "first_name": serializers.CharField(required=False),
    "last_name": serializers.CharField(required=False),
    "company_name": serializers.CharField(required=False),
    "company_website": serializers.CharField(required=False),
    "min_confidence": serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100,
        help_text="A match scored below this is returned as not_found and not charged."),
    "max_age_days": serializers.IntegerField(
        required=False, allow_null=True, min_value=1,
        help_text="A value its source last saw longer ago is not delivered nor charged (not_found, with "
                  "stale_fields saying what was withheld)."),
})
CONTACT_LOOKUP_ERRORS = {
    400: OpenApiResponse(ERROR_BODY, description=("No valid field combination supplied, or "
                                                  '{"error": "min_confidence must be an integer from 0 to 100."}, '
                                                  'or {"error": "max_age_days must be an integer of at least 1."}')),
    401: OpenApiResponse(description='{"detail": "Invalid token."}'),
    402: OpenApiResponse(ERROR_BODY, description='{"error": "Insufficient credits."}, or {"error": "Spend cap reached", '
                                                 '...} when a spend cap cannot take the price'),
    429: OpenApiResponse(ERROR_BODY, description="Rate limit exceeded. Retry after N seconds. (Retry-After header)"),
}


class SingleRecordApi(APIView):
    """A per-token rate limit, and the limit and credit headers on every answer to a known token."""

    parser_classes = [JSONParser]
    rate_limit: RateLimitDecision | None = None
    credits_charged: Decimal | None = None  # set by a lookup that was answered
    charge_reason = ""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.rate_limit = rate_limit_hit(token=request.auth)
        if not self.rate_limit.allowed:
            raise RateLimitExceeded(self.rate_limit)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.rate_limit is not None:
            for name, value in self.rate_limit.headers.items():
                response[name] = value
            known = response.data.get("remaining_credits") if isinstance(response.data, dict) else None
            response["X-Remaining-Credits"] = response["X-Credits-Remaining"] = str(
                known if known is not None else remaining_credits(request.auth.owner_balance))
        if self.credits_charged is not None:
            response["X-Credits-Charged"] = format_credits(self.credits_charged)
        if self.charge_reason:
            response["X-Charge-Reason"] = self.charge_reason
        return response


def _contact_lookup_body(lookup: ContactLookup, *, not_found_message: str) -> dict:
    if lookup.found:
        return {"success": True, "status": "success", "results": lookup.results,
                "remaining_credits": lookup.remaining_credits}
    body = {"success": True, "status": "not_found", "message": not_found_message,
            "remaining_credits": lookup.remaining_credits}
    if lookup.stale_fields:
        body["stale_fields"] = lookup.stale_fields
    return body


class PhoneEnrichmentApi(SingleRecordApi):
    auth_error_bodies = SEED_001_AUTH_ERROR_BODIES

    @extend_schema(
        summary="Find a phone number (charged only when found)",
        description=RATE_LIMIT_HEADERS_NOTE,
        request=CONTACT_LOOKUP_REQUEST,
        responses={200: OpenApiResponse(description="success or not_found"), **CONTACT_LOOKUP_ERRORS},
        examples=[OpenApiExample("Name + company", request_only=True,
                                 value={"first_name": "John", "last_name": "Doe", "company_name": "Acme Corp"})],
    )
    def post(self, request):
        record = contact_lookup_record(request.data)
        lookup = phone_lookup(user=request.user, balance=request.auth.owner_balance, record=record,
                              min_confidence=lookup_min_confidence(request.data),
                              max_age_days=lookup_max_age_days(request.data), token_id=request.auth.pk)
        self.credits_charged, self.charge_reason = lookup.charged, lookup.charge_reason
        return Response(_contact_lookup_body(lookup, not_found_message="Phone not found"))


class EmailEnrichmentApi(SingleRecordApi):
    auth_error_bodies = SEED_001_AUTH_ERROR_BODIES

    @extend_schema(
        summary="Find a deliverable email (charged only when found)",
        description=RATE_LIMIT_HEADERS_NOTE,
        request=CONTACT_LOOKUP_REQUEST,
        responses={200: OpenApiResponse(description="success or not_found"), **CONTACT_LOOKUP_ERRORS},
    )
    def post(self, request):
        record = contact_lookup_record(request.data)
        lookup = email_lookup(user=request.user, balance=request.auth.owner_balance, record=record,
                              min_confidence=lookup_min_confidence(request.data),
                              max_age_days=lookup_max_age_days(request.data), token_id=request.auth.pk)
        self.credits_charged, self.charge_reason = lookup.charged, lookup.charge_reason
        return Response(_contact_lookup_body(lookup, not_found_message="Email not found"))


def _optional_text(max_length: int = 255) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=max_length)


class AddressInput(serializers.Serializer):
    country = _optional_text()
    state = _optional_text()
    city = _optional_text()
    street = _optional_text()
    postalcode = _optional_text(32)


class PersonInput(serializers.Serializer):
    first_name = _optional_text()
    last_name = _optional_text()
    email = _optional_text()
    title = _optional_text()
    linkedin_url = _optional_text(500)
    phone = _optional_text(64)


class CompanyInput(serializers.Serializer):
    name = _optional_text()
    website = _optional_text(500)
    address = AddressInput(required=False, allow_null=True)


class CustomFieldInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    value = serializers.JSONField(required=False, allow_null=True)


class PersonCompanyInput(serializers.Serializer):
    person = PersonInput(required=False, allow_null=True)
    company = CompanyInput(required=False, allow_null=True)
    external_id = _optional_text()
    custom_fields = serializers.ListField(child=CustomFieldInput(), required=False, max_length=100)
    fields_to_enrich = FieldNamesField(accept_comma_string=False, required=False)
    min_confidence = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100)
    max_age_days = serializers.IntegerField(required=False, allow_null=True, min_value=1)


def person_company_input(data) -> dict:
    """The request's validated input, or the 400 of its field errors."""
    serializer = PersonCompanyInput(data=data)
    if not serializer.is_valid():
        raise ValidationFailed(serializer.errors)
    return serializer.validated_data


class PersonCompanyEnrichmentApi(SingleRecordApi):
    @extend_schema(
        summary="Enrich one person and their company (or a company alone)",
        description=("Priced like a one-row job (contact when person inputs are given, else account) and "
                     "charged only when it delivers what set the price. " + RATE_LIMIT_HEADERS_NOTE),
        responses={200: OpenApiResponse(description="status success or not_found"),
                   400: OpenApiResponse(description='{"error": "...", "missing": [...]} or field errors'),
                   402: OpenApiResponse(ERROR_BODY, description="You require N credits, but only M are available. "
                                                                "Or Spend cap reached, naming the cap."),
                   429: OpenApiResponse(ERROR_BODY, description="Rate limit exceeded. Retry after N seconds.")},
        examples=[OpenApiExample("Person at a company", request_only=True, value={
            "person": {"first_name": "Jane", "last_name": "Doe", "title": "VP Sales"},
            "company": {"name": "Acme Corp", "website": "acme.com", "address": {"country": "US"}},
            "external_id": "crm-0042", "custom_fields": [{"name": "segment", "value": "enterprise"}]})],
        request=PersonCompanyInput,
    )
    def post(self, request):
        valid = person_company_input(request.data)
        lookup = person_company_request(person=valid.get("person"), company=valid.get("company"),
                                        fields_to_enrich=valid.get("fields_to_enrich"),
                                        min_confidence=valid.get("min_confidence"),
                                        max_age_days=valid.get("max_age_days"))
        result = person_company_enrich(user=request.user, balance=request.auth.owner_balance, request=lookup,
                                       token_id=request.auth.pk)
        self.credits_charged, self.charge_reason = result.charged, result.charge_reason
        return Response({
            "status": "success" if result.found else "not_found",
            "external_id": valid.get("external_id"),
            "custom_fields": valid.get("custom_fields", []),
            "data": result.data,
            "charged_credits": format_credits(result.charged),
            "charge_reason": result.charge_reason,
            "remaining_credits": result.remaining_credits,
        })
