"""One exception per documented error, each carrying the server's body as it was sent."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import httpx

# Keys that add context to an error's message rather than being one.
CONTEXT_KEYS = frozenset({"allowed_fields", "limit", "requested", "unrecognized_columns", "cap", "spent",
                          "resets_at"})
_CREDITS = re.compile(r"You require (?P<required>[\d.]+) credits, but only (?P<available>[\d.]+) are available\.")


class EcoreError(Exception):
    """Anything the API or the connection to it refused. `status_code` is None for a connection failure."""

    exit_code = 1

    def __init__(self, message: str, *, status_code: int | None = None, body=None, headers=None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})


class ConnectionFailed(EcoreError):
    """The service could not be reached, or the connection broke, after the retries that were safe."""

    exit_code = 8


class BadRequest(EcoreError):
    """400: the request was refused as invalid; nothing was created or charged."""

    exit_code = 3


class PlanLimitExceeded(BadRequest):
    """400 `{"error": "Plan limit exceeded", "limit": L, "requested": R}`."""

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        self.limit = self.body.get("limit")
        self.requested = self.body.get("requested")


class AuthenticationFailed(EcoreError):
    """401: the token is missing, wrong, revoked or expired, or its user is inactive."""

    exit_code = 4


class InsufficientCredits(EcoreError):
    """402: the wallet cannot pay. `required` and `available` when the server said them (Submit does)."""

    exit_code = 5

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        found = _CREDITS.search(message)
        self.required = Decimal(found["required"]) if found else None
        self.available = Decimal(found["available"]) if found else None


class SpendCapReached(InsufficientCredits):
    """402 `{"error": "Spend cap reached", "cap", "limit", "spent", "requested", "resets_at"}`: the wallet could
    pay, but a daily or monthly cap of the token or the user cannot."""

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        self.cap = self.body.get("cap")
        self.limit = decimal_or_none(self.body.get("limit"))
        self.spent = decimal_or_none(self.body.get("spent"))
        self.requested = decimal_or_none(self.body.get("requested"))
        self.resets_at = self.body.get("resets_at")


class NotFound(EcoreError):
    """404: no such job for this token's user (another user's job is a 404 too)."""

    exit_code = 6


class Conflict(EcoreError):
    """409: a request with the same Idempotency-Key is still being processed."""

    exit_code = 1


class PayloadTooLarge(EcoreError):
    """413: the body or the file is larger than the service takes."""

    exit_code = 3


class RateLimited(EcoreError):
    """429: the per-token rate limit. `retry_after` is in seconds."""

    exit_code = 7

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after_seconds(self.headers)


class DailyQuotaExceeded(RateLimited):
    """429 for a test token whose daily quota is spent: `current_usage`, `daily_limit`, `resets_at`."""

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        details = self.body["error"]
        self.current_usage = details.get("current_usage")
        self.daily_limit = details.get("daily_limit")
        self.resets_at = details.get("resets_at")


class ServiceUnavailable(EcoreError):
    """503: the service cannot take the request now (e.g. a price is not configured); nothing was charged."""

    exit_code = 8


class ServerError(EcoreError):
    """Any other 5xx."""

    exit_code = 8


class JobFailed(EcoreError):
    """A job the client waited for ended as `Failure`; `status` is its last status document."""

    exit_code = 9

    def __init__(self, message: str, *, status):
        super().__init__(message)
        self.status = status


class WaitTimedOut(EcoreError):
    """`wait` gave up before the job finished; the job goes on."""

    exit_code = 10


def retry_after_seconds(headers) -> float | None:
    try:
        return float(headers.get("Retry-After") or headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _message(body, fallback: str) -> str:
    """The human sentence of any of the API's error shapes."""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
        messages = {key: value for key, value in body.items() if key not in CONTEXT_KEYS}
        if messages:
            return "; ".join(f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                             for key, value in messages.items())
    return fallback


def error_for(response: httpx.Response) -> EcoreError:
    """The exception for an error response."""
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500]}
    status = response.status_code
    message = _message(body, f"HTTP {status}")
    options = {"status_code": status, "body": body, "headers": response.headers}
    if status == 400:
        if isinstance(body, dict) and body.get("error") == "Plan limit exceeded":
            return PlanLimitExceeded(message, **options)
        return BadRequest(message, **options)
    if status == 402 and isinstance(body, dict) and body.get("error") == "Spend cap reached":
        return SpendCapReached(message, **options)
    if status == 429 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        return DailyQuotaExceeded(message, **options)
    kinds = {401: AuthenticationFailed, 402: InsufficientCredits, 404: NotFound, 409: Conflict,
             413: PayloadTooLarge, 429: RateLimited, 503: ServiceUnavailable}
    if status in kinds:
        return kinds[status](message, **options)
    if status >= 500:
        return ServerError(message, **options)
    return EcoreError(message, **options)


def decimal_or_none(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
