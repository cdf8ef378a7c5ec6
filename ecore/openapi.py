"""The OpenAPI schema's error answers: the bodies, and the answers every operation shares.

`ApiAutoSchema` adds to each operation what it answers whatever it does, so a view declares only
its own answers: behind a token, the 401 with the view's own bodies (seed 000's or seed 001's) and
a test token's spent daily quota (429); reading a body, a malformed one (400), one over the size
limits (413) and an unsupported media type (415).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, inline_serializer
from rest_framework import serializers

from ecore.exceptions import auth_error_bodies

ERROR = inline_serializer("Error", {"error": serializers.CharField()})
VALIDATION_ERROR = inline_serializer("ValidationError", {
    "error": serializers.CharField(required=False, help_text=(
        "The failure, when it is not about one field. Other keys name a field and say what is wrong with it."
    )),
})
PAGE_NOT_FOUND = inline_serializer("PageNotFound", {"detail": serializers.CharField(help_text='"Invalid page."')})
DAILY_QUOTA_EXCEEDED = inline_serializer("DailyQuotaExceeded", {"error": inline_serializer("DailyQuota", {
    "message": serializers.CharField(), "current_usage": serializers.IntegerField(),
    "daily_limit": serializers.IntegerField(), "resets_at": serializers.CharField()})})


def error_response(description: str) -> OpenApiResponse:
    """`{"error": "…"}`."""
    return OpenApiResponse(ERROR, description=description)


def validation_failed(description: str) -> OpenApiResponse:
    """A 400: `{"error": "…"}` (with context such as `limit` and `requested`), or field errors."""
    return OpenApiResponse(VALIDATION_ERROR, description=description)


def page_of(name: str, results: serializers.Field, **fields: serializers.Field) -> serializers.Serializer:
    """A page of a paginated list: `count`, `next`, `previous`, `results` (and `fields`)."""
    return inline_serializer(name, {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": results, **fields})


INVALID_PAGE = OpenApiResponse(PAGE_NOT_FOUND, description=(
    '{"detail": "Invalid page."}: past the last page, or not a page number.'))
JOB_NOT_FOUND = error_response('{"error": "Job not found."}: unknown, or another user\'s.')
JOB_OR_PAGE_NOT_FOUND = OpenApiResponse(
    PolymorphicProxySerializer(component_name="JobOrPageNotFound", serializers=[ERROR, PAGE_NOT_FOUND],
                               resource_type_field_name=None),
    description='{"error": "Job not found."} (unknown, or another user\'s), or {"detail": "Invalid page."}')
PRICE_MISSING = {503: error_response("A price the request needs is not configured: "
                                     '{"error": "Pricing is not configured: …. Please contact support."}')}
RATE_LIMITED = OpenApiResponse(
    PolymorphicProxySerializer(component_name="RateLimited", serializers=[ERROR, DAILY_QUOTA_EXCEEDED],
                               resource_type_field_name=None),
    description=('{"error": "Rate limit exceeded. Retry after N seconds."} with Retry-After: the token\'s '
                 "lookups per second are spent; or a test token's daily quota is."))


def exact_bodies_schema(bodies) -> dict:
    """The schema of one-key bodies such as `{"message": "Invalid or expired token"}`: that key, one of those values."""
    (key,) = {key for body in bodies for key in body}
    return {"type": "object", "required": [key], "additionalProperties": False,
            "properties": {key: {"type": "string", "enum": sorted({body[key] for body in bodies})}}}


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        # Note: a private method, as drf-standardized-errors overrides it: `@extend_schema(responses=…)`
        # replaces what `get_response_serializers` returns, and every operation here declares its own.
        responses = super()._get_response_bodies(direction)
        for code, response in self._shared_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return dict(sorted(responses.items()))

    def _shared_responses(self) -> dict[str, OpenApiResponse]:
        shared = {}
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            shared["400"] = validation_failed('{"error": "Malformed request body: …"}')
            shared["413"] = error_response("The request is too large, or has too many fields or files.")
            shared["415"] = error_response('{"error": "Unsupported media type \\"…\\" in request."}')
        if self.get_auth():
            shared["401"] = OpenApiResponse(
                exact_bodies_schema(auth_error_bodies(self.view).values()),
                description="No token, an unknown, expired or revoked one, or its user is inactive.")
            shared["429"] = OpenApiResponse(DAILY_QUOTA_EXCEEDED, description=(
                "A test token's daily quota is spent (it resets at midnight UTC)."))
        return shared

SPEND_CAP_NOTE = ('Or, when the wallet can pay but a spend cap cannot: {"error": "Spend cap reached", "cap": '
                  '"token_daily", "limit": "100", "spent": "96", "requested": "10", "resets_at": '
                  '"2026-12-02T00:00:00Z"}')
