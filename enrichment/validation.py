"""Steps 3–6 of the seed's validation order: schema, type/level, allowed fields, identifiers.

Step 3 errors use DRF's field-error dict, except a record's, which names the record as step 6 does; steps
4–6 use the seed's exact bodies.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ecore import parsers
from ecore.exceptions import ValidationFailed
from enrichment.webhooks import webhook_url_problem
from sources.fields import ACCOUNT_FIELDS, ACCOUNT_IDENTIFIERS, CONTACT_FIELDS, CONTACT_IDENTIFIERS

# A century: older than any source's data, and far from the date arithmetic's limits.
MAX_AGE_DAYS_LIMIT = 36_500

CRITERIA_LIST_KEYS = ("job_level", "job_function", "keyword")
CRITERIA_KEYS = ("limit", *CRITERIA_LIST_KEYS)
# Each keyword is three ILIKE patterns over every person of the batch's companies: 100,000 of them
# held a worker and a PostgreSQL backend for over four minutes.
MAX_CRITERIA_ENTRIES = 20
MAX_CRITERIA_ENTRY_LENGTH = 100
MAX_RECORD_KEY_LENGTH = 255
MAX_RECORD_VALUE_LENGTH = 2000
RECORD_SCALARS = (str, int, float, bool, type(None))
# PostgreSQL stores neither in text or jsonb, and an unpaired surrogate cannot even be encoded as UTF-8.
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def character_problem(text: str) -> str | None:
    """What in `text` cannot be stored or rendered ("a null character"), or None when nothing."""
    match = _UNSTORABLE_CHARACTER.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return "a null character"
    return f"a surrogate character (U+{ord(match.group()):04X})"


def json_character_problem(value) -> str | None:
    """`character_problem` of the first string, value or key, anywhere in a parsed JSON value."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if problem := character_problem(item):
                return problem
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


@dataclass(frozen=True)
class SubmissionRequest:
    type: str
    level: str
    data: list[dict]
    fields_to_enrich: list[str]
    criteria: dict | None  # the effective criteria: None unless `limit` is in effect
    min_confidence: int | None = None
    webhook_url: str = ""
    max_age_days: int | None = None
    accept_catch_all: bool = True


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
class StringOrStringListField(serializers.Field):
    """A criteria filter: one string or a list of strings; blank entries dropped."""

    default_error_messages = {
        "invalid": "Must be a string or a list of strings.",
        "too_many": f"Ensure this field has no more than {MAX_CRITERIA_ENTRIES} entries.",
        "too_long": f"Ensure each entry has no more than {MAX_CRITERIA_ENTRY_LENGTH} characters.",
        "character": "Entries must not contain {problem}.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.fail("invalid")
        entries = [item.strip() for item in value if item.strip()]
        if len(entries) > MAX_CRITERIA_ENTRIES:
            self.fail("too_many")
        for entry in entries:
            if len(entry) > MAX_CRITERIA_ENTRY_LENGTH:
                self.fail("too_long")
            if problem := character_problem(entry):
                self.fail("character", problem=problem)
        return entries

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.INT)
class CriteriaLimitField(serializers.Field):
    """`limit`: an integer ≥ 1 activates the criteria; missing, null, "" or 0 switch it off (→ None)."""

    default_error_messages = {"invalid": "Must be a non-negative integer."}

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def validate_empty_values(self, data):
        if data == "":
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, value):
        if isinstance(value, bool):
            self.fail("invalid")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or value < 0:
            self.fail("invalid")
        return value or None

    def to_representation(self, value):
        return value


class CriteriaSerializer(serializers.Serializer):
    limit = CriteriaLimitField()
    job_level = StringOrStringListField(required=False)
    job_function = StringOrStringListField(required=False)
    keyword = StringOrStringListField(required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(CRITERIA_KEYS))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown criteria field."] for key in unknown})
        return super().to_internal_value(data)


@extend_schema_field({
    "type": "array", "minItems": 1, "maxItems": settings.ENRICHMENT_HARD_LIMIT,
    "items": {"type": "object", "additionalProperties": {},
              "anyOf": [{"required": [name]} for name in sorted({*CONTACT_IDENTIFIERS, *ACCOUNT_IDENTIFIERS})]},
    "description": (f"The records. Each needs a non-blank identifier: one of {sorted(CONTACT_IDENTIFIERS)} "
                    f"for contact jobs, of {sorted(ACCOUNT_IDENTIFIERS)} for account jobs."),
})
class RecordListField(serializers.ListField):
    child = serializers.DictField()

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=settings.ENRICHMENT_HARD_LIMIT, **kwargs)


@extend_schema_field({
    "type": "array", "minItems": 1, "items": {"type": "string", "enum": [*CONTACT_FIELDS, *ACCOUNT_FIELDS]},
    "description": ("Contact jobs, and account jobs with criteria.limit, take any of these; other account jobs "
                    "only the account fields. Any other name is a 400 listing the invalid ones."),
})
class FieldNamesField(serializers.ListField):
    """A non-empty list of strings; a comma-separated string is split (file-upload mode)."""

    child = serializers.CharField(trim_whitespace=True, allow_blank=True)

    def __init__(self, *, accept_comma_string: bool, **kwargs):
        self.accept_comma_string = accept_comma_string
        super().__init__(allow_empty=False, **kwargs)

    def to_internal_value(self, data):
        if self.accept_comma_string and isinstance(data, str):
            data = data.split(",")
        names = [name for name in super().to_internal_value(data) if name]
        if not names:
            self.fail("empty")
        return list(dict.fromkeys(names))


class SubmissionSchema(serializers.Serializer):
    type = serializers.ChoiceField(choices=["contact", "account"])
    level = serializers.ChoiceField(choices=["standard", "pro"])
    data = RecordListField()
    fields_to_enrich = FieldNamesField(accept_comma_string=False)
    criteria = CriteriaSerializer(required=False, allow_null=True)
    min_confidence = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100)
    webhook_url = serializers.URLField(required=False, allow_blank=True, max_length=1000)
    max_age_days = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            max_value=MAX_AGE_DAYS_LIMIT)
    # Note: a default, not required=False alone: DRF reads a boolean missing from a form as false.
    accept_catch_all = serializers.BooleanField(default=True)

    def validate_webhook_url(self, value):
        problem = webhook_url_problem(value) if value else ""
        if problem:
            raise serializers.ValidationError(problem)
        return value


class FileSubmissionSchema(SubmissionSchema):
    fields_to_enrich = FieldNamesField(accept_comma_string=True)


def _form_json(value, field_name: str):
    """Form fields carry JSON as text (`criteria`, `data` without a file), held to a JSON body's bounds."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return parsers.json_loads(value)
    except ValueError:
        raise ValidationFailed({field_name: ["Invalid JSON."]}) from None


def validate_schema(payload: dict, *, from_form: bool) -> dict:
    """Step 3. `payload` holds the request's parameters, with `data` already parsed in file mode."""
    if from_form:
        payload = dict(payload)
        payload["criteria"] = _form_json(payload.get("criteria"), "criteria")
        payload["data"] = _form_json(payload.get("data"), "data")
        for optional in ("min_confidence", "webhook_url", "max_age_days", "accept_catch_all"):
            if payload.get(optional) == "":
                payload.pop(optional)
    schema = (FileSubmissionSchema if from_form else SubmissionSchema)(data=payload)
    if not schema.is_valid():
        raise ValidationFailed(schema.errors)
    return schema.validated_data


def _record_problem(record: dict) -> str | None:
    for key, value in record.items():
        # A bad key is described, not quoted: it may be all the body has room for.
        if len(key) > MAX_RECORD_KEY_LENGTH:
            return f"a field name is longer than {MAX_RECORD_KEY_LENGTH} characters"
        if problem := character_problem(key):
            return f"a field name contains {problem}"
        if not isinstance(value, RECORD_SCALARS):
            return f"{key!r} must be a string, a number, true, false or null"
        if isinstance(value, str):
            if len(value) > MAX_RECORD_VALUE_LENGTH:
                return f"{key!r} is longer than {MAX_RECORD_VALUE_LENGTH} characters"
            if problem := character_problem(value):
                return f"{key!r} contains {problem}"
    return None


def validate_records(records: list[dict]) -> None:
    """Step 3, for what the schema leaves open: every value a scalar that PostgreSQL can store."""
    for number, record in enumerate(records, start=1):
        if problem := _record_problem(record):
            raise ValidationFailed({"data": f"Record {number}: {problem}."})


def effective_criteria(criteria: dict | None) -> dict | None:
    if not criteria or not criteria.get("limit"):
        return None
    return {key: value for key, value in criteria.items() if value}


def validate_type_level(*, job_type: str, level: str) -> None:
    """Step 4."""
    if job_type == "account" and level == "pro":
        raise ValidationFailed({"level": "Account enrichment only supports 'standard'."})


def allowed_fields(*, job_type: str, has_criteria: bool) -> frozenset[str]:
    if job_type == "contact" or has_criteria:
        return frozenset(CONTACT_FIELDS) | frozenset(ACCOUNT_FIELDS)
    return frozenset(ACCOUNT_FIELDS)


def validate_allowed_fields(*, job_type: str, fields: list[str], has_criteria: bool) -> None:
    """Step 5."""
    allowed = allowed_fields(job_type=job_type, has_criteria=has_criteria)
    invalid = [name for name in fields if name not in allowed]
    if invalid:
        # The seed's key keeps its exact text; the names that would be accepted go in an added key.
        raise ValidationFailed({"fields_to_enrich": f"Invalid fields: {invalid}", "allowed_fields": sorted(allowed)})


def _has_value(value) -> bool:
    return value is not None and str(value).strip() != ""


def validate_identifiers(*, job_type: str, records: list[dict]) -> None:
    """Step 6: every record names at least one identifier the pipeline can match on."""
    identifiers = sorted(CONTACT_IDENTIFIERS if job_type == "contact" else ACCOUNT_IDENTIFIERS)
    for number, record in enumerate(records, start=1):
        if not any(_has_value(record.get(name)) for name in identifiers):
            error = {"data": f"Record {number}: needs at least one of {identifiers}"}
            columns = {name for each in records for name in each}
            if not columns.intersection(identifiers):
                # No row can match: say which columns were sent, so a misnamed header is easy to spot.
                error["unrecognized_columns"] = sorted(columns)
            raise ValidationFailed(error)


def validate_submission(payload: dict, *, from_form: bool) -> SubmissionRequest:
    """Steps 3 to 6, in the seed's order; the first failure raises its own error."""
    valid = validate_schema(payload, from_form=from_form)
    validate_records(valid["data"])
    validate_type_level(job_type=valid["type"], level=valid["level"])
    criteria = effective_criteria(valid.get("criteria")) if valid["type"] == "account" else None
    validate_allowed_fields(job_type=valid["type"], fields=valid["fields_to_enrich"],
                            has_criteria=criteria is not None)
    validate_identifiers(job_type=valid["type"], records=valid["data"])
    return SubmissionRequest(
        type=valid["type"], level=valid["level"], data=valid["data"], fields_to_enrich=valid["fields_to_enrich"],
        criteria=criteria, min_confidence=valid.get("min_confidence"), webhook_url=valid.get("webhook_url") or "",
        max_age_days=valid.get("max_age_days"), accept_catch_all=valid["accept_catch_all"],
    )
