"""Turns a Submit/Estimate HTTP request into validated input: step 2 (file parsing) and steps 3–6."""

from dataclasses import dataclass

from django.http import QueryDict

from ecore.exceptions import ValidationFailed
from enrichment.idempotency import request_fingerprint
from enrichment.parsing import parse_upload
from enrichment.validation import SubmissionRequest, validate_submission


@dataclass(frozen=True)
class SubmissionInput:
    submission: SubmissionRequest
    file_name: str


def _form_values(data: QueryDict) -> dict:
    values = {}
    for key in data:
        items = data.getlist(key)
        values[key] = items[0] if len(items) == 1 else items
    return values


def submission_payload(request) -> tuple[dict, bool, object]:
    """The raw parameters, whether they came as a form, and the uploaded file (or None)."""
    data = request.data
    if isinstance(data, QueryDict):
        return _form_values(data), True, request.FILES.get("file")
    if not isinstance(data, dict):
        raise ValidationFailed({"error": "The request body must be a JSON object."})
    return dict(data), False, None


def submission_fingerprint(request, *, endpoint: str) -> str:
    payload, _, upload = submission_payload(request)
    file_bytes = None
    if upload is not None:
        file_bytes = upload.read()
        upload.seek(0)
    return request_fingerprint(endpoint=endpoint, payload=payload, file_bytes=file_bytes)


def submission_from_request(request) -> SubmissionInput:
    payload, from_form, upload = submission_payload(request)
    if upload is not None:
        if "data" in payload:
            raise ValidationFailed({"data": "Do not send data with a file: the parsed file replaces it."})
        payload["data"] = parse_upload(upload)
    submission = validate_submission(payload, from_form=from_form)
    return SubmissionInput(submission=submission, file_name=getattr(upload, "name", "") or "")
