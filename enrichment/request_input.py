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


# Headers that CRM and spreadsheet exports use for our input columns, as the seed's parsing normalizes
# them. A column is renamed only when the file has no column of the canonical name itself.
HEADER_ALIASES = {
    **dict.fromkeys(("company", "organization", "organisation", "account", "account_name", "employer"),
                    "company_name"),
    **dict.fromkeys(("website", "domain", "company_domain", "company_url", "web_site", "url"), "company_website"),
    **dict.fromkeys(("email", "e-mail", "email_address", "work_email", "business_email"), "contact_email"),
    **dict.fromkeys(("linkedin", "linkedin_url", "linkedin_profile", "person_linkedin_url"), "contact_linkedin_url"),
    **dict.fromkeys(("first", "firstname", "given_name", "forename"), "first_name"),
    **dict.fromkeys(("last", "lastname", "surname", "family_name"), "last_name"),
    **dict.fromkeys(("title", "job"), "job_title"),
}


def records_with_canonical_columns(records: list[dict]) -> list[dict]:
    """An upload's records with aliased headers renamed to our column names (`Company` → `company_name`)."""
    columns = dict.fromkeys(name for record in records[:1] for name in record)
    renames = {name: HEADER_ALIASES[name] for name in columns
               if name in HEADER_ALIASES and HEADER_ALIASES[name] not in columns}
    if not renames:
        return records
    return [{renames.get(name, name): value for name, value in record.items()} for record in records]


def submission_from_request(request) -> SubmissionInput:
    payload, from_form, upload = submission_payload(request)
    if upload is not None:
        if "data" in payload:
            raise ValidationFailed({"data": "Do not send data with a file: the parsed file replaces it."})
        payload["data"] = records_with_canonical_columns(parse_upload(upload))
    submission = validate_submission(payload, from_form=from_form)
    return SubmissionInput(submission=submission, file_name=getattr(upload, "name", "") or "")
