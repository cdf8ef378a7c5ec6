"""Single-record endpoints: phone and email lookups (seed 001) and person + company enrichment."""

from decimal import Decimal

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ecore.exceptions import INACTIVE_USER, INVALID_TOKEN, ValidationFailed, format_credits
from ecore.openapi import PRICE_MISSING, RATE_LIMITED, SPEND_CAP_NOTE, error_response, validation_failed
from ecore.parsers import JSONParser
from enrichment.single import (
    CONTACT_LOOKUP_COMBINATIONS,
    CONTACT_LOOKUP_INPUT_ERROR,
    MAX_AGE_DAYS_ERROR,
    MIN_CONFIDENCE_ERROR,
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
from enrichment.validation import MAX_AGE_DAYS_LIMIT, FieldNamesField, json_character_problem
from tokens.ratelimit import RateLimitDecision, RateLimitExceeded, rate_limit_hit

SEED_001_AUTH_ERROR_BODIES = {INVALID_TOKEN: {"detail": "Invalid token."}, INACTIVE_USER: {"detail": "Invalid token."}}

RATE_LIMIT_HEADERS_NOTE = ("Every answer to an authenticated request carries X-RateLimit-Limit, X-RateLimit-Remaining, "
                           "X-RateLimit-Reset (seconds), X-Remaining-Credits and X-Credits-Remaining (the same whole "
                           "credits); a lookup that was answered also X-Credits-Charged and X-Charge-Reason (charged, "
                           "already_paid for values paid for within repeat_free_days, or why nothing was found). A "
                           'spend cap that the price would pass is a 402 {"error": "Spend cap reached", "cap", '
                           '"limit", "spent", "requested", "resets_at"}.')


# Documents the body only: `contact_lookup_record` and the `lookup_*` functions read it.
class ContactLookupRequest(serializers.Serializer):
    """A person: `linkedin_url`, `email`, or `first_name` + `last_name` with `company_name` or `company_website`.
    A blank value, or one that cannot serve as a key (an email that does not parse, a URL that is not a LinkedIn
    profile), does not count."""

    linkedin_url = serializers.CharField(required=False, help_text="A LinkedIn profile URL.")
    email = serializers.CharField(required=False, help_text="A known email address of the person.")
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(required=False)
    company_name = serializers.CharField(required=False)
    company_website = serializers.CharField(required=False, help_text="Instead of company_name.")
    min_confidence = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100,
        help_text="A match scored below this is returned as not_found and not charged.")
    max_age_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_AGE_DAYS_LIMIT,
        help_text="A value its source last saw longer ago is not delivered nor charged (not_found, with "
                  "stale_fields saying what was withheld).")


class ContactLookupRequestSchema(OpenApiSerializerExtension):
    """Adds the required combinations, which fields alone cannot say, as an `anyOf`."""

    target_class = ContactLookupRequest

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "anyOf": [{"required": list(names)} for names in CONTACT_LOOKUP_COMBINATIONS]}


def _text_fields(*names: str) -> dict[str, serializers.CharField]:
    return {name: serializers.CharField(required=False) for name in names}


EMAIL_QUALITY = _text_fields("contact_email_status", "contact_email_status_reason")


def _contact_lookup_response(name: str, results: dict, *, not_found_message: str):
    return inline_serializer(name, {
        "success": serializers.BooleanField(help_text="Always true on a 200, not_found included."),
        "status": serializers.ChoiceField(choices=["success", "not_found"]),
        "results": inline_serializer(f"{name}Results", results, required=False, help_text="status success only"),
        "message": serializers.CharField(required=False, help_text=f'"{not_found_message}": status not_found only'),
        "stale_fields": serializers.DictField(required=False, help_text=(
            "not_found only: what was found but withheld as older than max_age_days")),
        "remaining_credits": serializers.IntegerField(help_text="The wallet's balance after this lookup."),
    })


CONTACT_LOOKUP_ERRORS = {
    400: error_response(f'{{"error": "{CONTACT_LOOKUP_INPUT_ERROR}"}}, {{"error": "{MIN_CONFIDENCE_ERROR}"}}, '
                        f'{{"error": "{MAX_AGE_DAYS_ERROR}"}} or a malformed body'),
    402: error_response('{"error": "Insufficient credits."} ' + SPEND_CAP_NOTE),
    429: RATE_LIMITED,
    **PRICE_MISSING,
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
        request=ContactLookupRequest,
        responses={200: _contact_lookup_response("PhoneLookupResponse", {
            "phone": serializers.CharField(), **_text_fields("phone_e164", "phone_type", "phone_country"),
            "email": serializers.CharField(required=False, help_text="The person's email, when known: free."),
            **EMAIL_QUALITY}, not_found_message="Phone not found"), **CONTACT_LOOKUP_ERRORS},
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
        request=ContactLookupRequest,
        responses={200: _contact_lookup_response("EmailLookupResponse", {
            "email": serializers.CharField(), "email_status": serializers.CharField(help_text="The validator's verdict."),
            **EMAIL_QUALITY}, not_found_message="Email not found"), **CONTACT_LOOKUP_ERRORS},
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

    def validate_value(self, value):
        # Echoed in the response: an unpaired surrogate cannot be rendered as UTF-8.
        if problem := json_character_problem(value):
            raise serializers.ValidationError(f"Must not contain {problem}.")
        return value


class PersonCompanyInput(serializers.Serializer):
    person = PersonInput(required=False, allow_null=True)
    company = CompanyInput(required=False, allow_null=True)
    external_id = _optional_text()
    custom_fields = serializers.ListField(child=CustomFieldInput(), required=False, max_length=100)
    fields_to_enrich = FieldNamesField(accept_comma_string=False, required=False)
    min_confidence = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100)
    max_age_days = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            max_value=MAX_AGE_DAYS_LIMIT)


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
        responses={200: inline_serializer("PersonCompanyResponse", {
            "status": serializers.ChoiceField(choices=["success", "not_found"]),
            "external_id": serializers.CharField(allow_null=True),
            "custom_fields": serializers.ListField(child=serializers.DictField()),
            "data": serializers.DictField(help_text="The person and company found."),
            "charged_credits": serializers.CharField(), "remaining_credits": serializers.IntegerField()}),
                   400: validation_failed('{"error": "…", "missing": […]} naming the inputs that complete a '
                                          "lookup, field errors, or a malformed body"),
                   402: error_response("You require N credits, but only M are available. " + SPEND_CAP_NOTE),
                   429: RATE_LIMITED, **PRICE_MISSING},
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
