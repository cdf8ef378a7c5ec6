"""`Idempotency-Key` with Stripe's semantics, scoped to the API token.

The first response to a key is stored for 24 hours and replayed for retries with the same
request; the same key with a different request is a 400; a retry that arrives while the first
request is still running gets a 409.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ecore.exceptions import ApplicationError, Conflict, ValidationFailed
from enrichment.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict
    replayed: bool


def request_fingerprint(*, endpoint: str, payload: dict, file_bytes: bytes | None) -> str:
    digest = hashlib.sha256(endpoint.encode())
    digest.update(json.dumps(payload, sort_keys=True, default=str).encode())
    if file_bytes is not None:
        digest.update(hashlib.sha256(file_bytes).digest())
    return digest.hexdigest()


def _claim(*, token, key: str, endpoint: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    IdempotencyRecord.objects.filter(token=token, key=key, created_at__lt=expired_before).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(token=token, key=key, endpoint=endpoint,
                                                    request_fingerprint=fingerprint), True
    except IntegrityError:
        return IdempotencyRecord.objects.get(token=token, key=key), False


def idempotent_response(*, token, key: str, endpoint: str, fingerprint: str,
                        handler: Callable[[], tuple[int, dict]]) -> StoredResponse:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed({"error": f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters."})
    record, created = _claim(token=token, key=key, endpoint=endpoint, fingerprint=fingerprint)
    if not created:
        if record.request_fingerprint != fingerprint or record.endpoint != endpoint:
            raise ValidationFailed({"error": "This Idempotency-Key was already used with a different request."})
        if record.response_status is None:
            raise Conflict("A request with this Idempotency-Key is still being processed.")
        return StoredResponse(status=record.response_status, body=record.response_body, replayed=True)
    try:
        status, body = handler()
    except ApplicationError as exc:
        status, body = exc.status_code, exc.body
    except BaseException:
        # An unexpected failure stores nothing, so the client may retry with the same key.
        record.delete()
        raise
    if status >= 500:
        record.delete()
        return StoredResponse(status=status, body=body, replayed=False)
    IdempotencyRecord.objects.filter(pk=record.pk).update(response_status=status, response_body=body)
    return StoredResponse(status=status, body=body, replayed=False)
