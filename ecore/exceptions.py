"""One error contract for the whole API.

Services raise `ApplicationError` subclasses carrying the exact status and body the
specification prescribes; `api_exception_handler` renders them. DRF's own exceptions
keep DRF's shapes, except authentication failures, which use the seed's bodies, and
bodies over Django's limits, which are a 413 with the API's `{"error": ...}`.
"""

import logging
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import exceptions, status
from rest_framework.response import Response

from sources.contacts import SourceUnavailable

logger = logging.getLogger(__name__)

MB = 1024 * 1024
_UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")


def _printable(value):
    """`value` with NUL and unpaired surrogates replaced: an error may quote the client's input (DRF's
    '"x" is not a valid choice.'), and neither character renders as UTF-8 or stores in jsonb."""
    if isinstance(value, str):
        return _UNPRINTABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


class ApplicationError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, body: dict, status_code: int | None = None, headers: dict | None = None):
        super().__init__(body)
        self.body = _printable(body)
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}


class ValidationFailed(ApplicationError):
    """A 400 whose body is the seed's field-keyed or `error`-keyed message."""


class InsufficientCredits(ApplicationError):
    status_code = status.HTTP_402_PAYMENT_REQUIRED

    def __init__(self, required, available):
        self.required = required
        self.available = available
        super().__init__(
            {"error": f"You require {format_credits(required)} credits, but only {format_credits(available)} are available."}
        )


class SpendCapReached(ApplicationError):
    """A spend cap, not the wallet, refuses the charge: which cap, its limit, what its period has spent and when
    the period ends. The seed's 402 bodies stay the wallet's."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED

    def __init__(self, *, cap: str, limit, spent, requested, resets_at):
        super().__init__({"error": "Spend cap reached", "cap": cap, "limit": format_credits(limit),
                          "spent": format_credits(spent), "requested": format_credits(requested),
                          "resets_at": resets_at.strftime("%Y-%m-%dT%H:%M:%SZ")})


class PlanLimitExceeded(ApplicationError):
    def __init__(self, limit: int, requested: int):
        super().__init__({"error": "Plan limit exceeded", "limit": limit, "requested": requested})


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT

    def __init__(self, message: str):
        super().__init__({"error": message})


def format_credits(value) -> str:
    """Credits print as integers when whole (`240`), else without trailing zeros (`2.5`)."""
    text = format(value.normalize(), "f") if hasattr(value, "normalize") else str(value)
    return text


def request_too_large_message() -> str:
    return f"The request is too large. The maximum size is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE / MB:g} MB."


def _request_over_limits(exc) -> Response:
    """Django refuses a body over its limits when the body is first read, inside the view."""
    if isinstance(exc, TooManyFieldsSent):
        message = f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    elif isinstance(exc, TooManyFilesSent):
        message = f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files."
    else:
        message = request_too_large_message()
    return Response({"error": message}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


INVALID_TOKEN = "invalid"
INACTIVE_USER = "inactive"

# Submit-style endpoints (seed 000). Views of seed 001 override these with their own bodies.
DEFAULT_AUTH_ERROR_BODIES = {
    INVALID_TOKEN: {"message": "Invalid or expired token"},
    INACTIVE_USER: {"message": "User is inactive or deleted"},
}


class AuthenticationError(exceptions.AuthenticationFailed):
    """A rejected credential; the view decides the exact 401 body for `reason`."""

    def __init__(self, reason: str):
        super().__init__(detail=DEFAULT_AUTH_ERROR_BODIES[reason]["message"])
        self.reason = reason


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(exc.body, status=exc.status_code, headers=exc.headers)
    if isinstance(exc, AuthenticationError):
        return _unauthorized(context, exc.reason)
    if isinstance(exc, exceptions.NotAuthenticated):
        return _unauthorized(context, INVALID_TOKEN)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        return _request_over_limits(exc)
    if isinstance(exc, SourceUnavailable):
        # Outside a job's stages (the suppression list, a single lookup's family tree) nothing can go on without it.
        logger.warning("%s unavailable in %s: %s", exc.source, context.get("view"), exc.reason)
        return Response({"error": "A data source did not answer. Try again later."},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, exceptions.ParseError):
        return Response({"error": f"Malformed request body: {exc.detail}"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response({"error": str(exc.detail)}, status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    from rest_framework.views import exception_handler  # DRF's views import our authentication class

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view"))
    return response


def auth_error_bodies(view) -> dict[str, dict]:
    """The 401 bodies `view` answers with, by reason (the OpenAPI schema documents the same)."""
    return getattr(view, "auth_error_bodies", DEFAULT_AUTH_ERROR_BODIES)


def _unauthorized(context, reason: str) -> Response:
    body = auth_error_bodies(context.get("view"))[reason]
    return Response(body, status=status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
