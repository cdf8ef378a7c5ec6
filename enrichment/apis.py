from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ecore.exceptions import format_credits
from ecore.openapi import PRICE_MISSING, SPEND_CAP_NOTE, error_response, validation_failed
from ecore.parsers import JSONParser
from enrichment.idempotency import MAX_KEY_LENGTH, idempotent_response
from enrichment.request_input import submission_fingerprint, submission_from_request
from enrichment.services import job_submit, submission_estimate
from enrichment.validation import FileSubmissionSchema, SubmissionSchema
from wallet.selectors import wallet_balance


def credit_headers(*, charged: Decimal, user) -> dict:
    """What the request charged and the wallet's balance after it, on each answer of an endpoint that charges."""
    return {"X-Credits-Charged": format_credits(charged), "X-Credits-Remaining": format_credits(wallet_balance(user=user))}


class FileSubmissionRequest(FileSubmissionSchema):
    """A submission as a multipart form: the same fields, and a CSV or Excel file whose rows are its data."""

    file = serializers.FileField(required=False, help_text=(
        f"CSV (.csv) or Excel (.xlsx, .xls); at most {settings.ENRICHMENT_HARD_LIMIT} rows. Its rows are the submission's data: "
        "send either a file or data, not both."))

    def get_fields(self):
        fields = super().get_fields()
        fields["data"].required = False  # a file stands in for it
        return fields


SUBMIT_REQUEST = {"application/json": SubmissionSchema, "multipart/form-data": FileSubmissionRequest}
SUBMIT_ERRORS = {
    400: validation_failed("Validation failure (schema, fields, identifiers, type/level, plan limit with `limit` "
                           "and `requested`, file parse error, unsupported file type) or a malformed body"),
    402: error_response("You require N credits, but only M are available. " + SPEND_CAP_NOTE),
    413: error_response("The file is too large (the maximum upload size is N MB), or the request is."),
    **PRICE_MISSING,
}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}, OpenApiParameter.HEADER,
    description=(
        "The first answer to a key is stored for 24 hours and replayed (with "
        "`Idempotent-Replayed: true`) for a retry of the same request; the same key with another request is a 400, "
        "and a retry while the first is still running a 409."))


class SubmitApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Submit an enrichment job",
        request=SUBMIT_REQUEST,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: inline_serializer("SubmitResponse", {
            "status": serializers.CharField(), "job_id": serializers.UUIDField(),
            "estimated_credits": serializers.IntegerField(), "message": serializers.CharField()}), **SUBMIT_ERRORS,
            409: error_response("A request with this Idempotency-Key is still being processed.")},
        examples=[OpenApiExample("Contact", request_only=True, value={
            "type": "contact", "level": "standard",
            "fields_to_enrich": ["contact_email", "contact_mobile_phone", "job_title"],
            "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp",
                      "contact_linkedin_url": "https://www.linkedin.com/in/janedoe"}]})],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        self.charged = Decimal(0)  # what this request charged: nothing for a replay
        if key is None:
            status_code, body = self._submit(request)
            return Response(body, status=status_code, headers=credit_headers(charged=self.charged, user=request.user))
        stored = idempotent_response(
            token=request.auth, key=key, endpoint="submit",
            fingerprint=submission_fingerprint(request, endpoint="submit"), handler=lambda: self._submit(request),
        )
        headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
        if stored.status == status.HTTP_200_OK:
            headers.update(credit_headers(charged=self.charged, user=request.user))
        return Response(stored.body, status=stored.status, headers=headers)

    def _submit(self, request) -> tuple[int, dict]:
        submission_input = submission_from_request(request)
        job, estimate = job_submit(user=request.user, submission=submission_input.submission,
                                   input_file_name=submission_input.file_name, token_id=request.auth.pk)
        self.charged = estimate.total
        return status.HTTP_200_OK, {
            "status": "submitted",
            "job_id": str(job.job_id),
            "estimated_credits": estimate.rounded_total,
            "message": "Enrichment job submitted successfully",
        }


class EstimateApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Preview the cost of a submission (free; creates nothing)",
        request=SUBMIT_REQUEST,
        responses={200: inline_serializer("EstimateResponse", {
            "estimated_credits": serializers.IntegerField(),
            "estimated_credits_exact": serializers.CharField(),
            "per_row_rate": serializers.CharField(), "rate_category": serializers.CharField(),
            "criteria_multiplier": serializers.IntegerField(), "record_count": serializers.IntegerField(),
            "wallet_balance": serializers.CharField()}), **SUBMIT_ERRORS},
    )
    def post(self, request):
        submission = submission_from_request(request).submission
        estimate, balance = submission_estimate(user=request.user, submission=submission, token_id=request.auth.pk)
        return Response({
            "estimated_credits": estimate.rounded_total,
            "estimated_credits_exact": format_credits(estimate.total),
            "per_row_rate": format_credits(estimate.per_row_rate),
            "rate_category": estimate.rate_category,
            "criteria_multiplier": estimate.multiplier,
            "record_count": estimate.row_count,
            "wallet_balance": format_credits(balance),
        })
