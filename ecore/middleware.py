"""eCore's middleware: every request logged with its id and counted on the metrics; a size check in front of
the API; the admin's own kept off the API.

Sessions, CSRF, the signed-in user and flash messages serve `/admin/`. The API authenticates every
request by its token and never reads a session, and these four cost about 0.3 ms of CPU on each
API request. They stay subclasses of Django's own, so the admin's checks still find them.
"""

import re
import time
import uuid

import structlog
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware

from ecore.exceptions import request_too_large_message
from ecore.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

API_PREFIX = "/api/"
# The view label of a request no URL matched (a 404, or a static file WhiteNoise served).
UNMATCHED_VIEW = "unmatched"
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own request id is kept when it looks like one (a UUID, a proxy's trace id); anything else, which
# could forge log fields or fill lines, is replaced by a new one.
CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Probes and scrapes every few seconds: their lines are DEBUG, not INFO.
QUIET_VIEWS = frozenset({"healthz", "readyz", "metrics"})

request_log = structlog.get_logger("ecore.request")


def is_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


class ApiRequestSizeMiddleware:
    """Refuses an API request whose declared body is larger than any valid one, before reading it.

    Django bounds a body's fields as it reads them (ecore/exceptions.py answers those), but writes a
    file of any size to disk first; the largest valid body is a file at the upload cap and fields at theirs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_request(request) and _declared_length(request) > (
                settings.ENRICHMENT_MAX_UPLOAD_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE):
            return JsonResponse({"error": request_too_large_message()}, status=413)
        return self.get_response(request)


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class _OutsideApi:
    def __call__(self, request):
        if is_api_request(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_OutsideApi, DjangoSessionMiddleware):
    pass


class CsrfViewMiddleware(_OutsideApi, DjangoCsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if is_api_request(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(_OutsideApi, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(_OutsideApi, DjangoMessageMiddleware):
    pass


def view_name(request) -> str:
    """The URL's name (`enrichment-status`, `admin:index`), never the raw path: a job id in a path would
    make a metric series per job."""
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNMATCHED_VIEW


class RequestLogMiddleware:
    """Binds the request's id (the caller's X-Request-ID, else a new one, returned in the same header) for every
    line logged while it runs, and logs one `request_finished` line with its view, status and duration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        caller_id = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = caller_id if CALLER_REQUEST_ID.fullmatch(caller_id) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        view = view_name(request)
        log = request_log.debug if view in QUIET_VIEWS else request_log.info
        log("request_finished", method=request.method, path=request.path, view=view, status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1))
        return response


@receiver(request_finished)
def _request_log_context_clear(**kwargs) -> None:
    """Once the response is sent, not when the middleware returns: Django logs a 4xx or 5xx response's warning
    after the middleware, and that line must carry the request's id too. A sync worker serves its requests one
    after another in one thread, so nothing may carry over to the next."""
    structlog.contextvars.clear_contextvars()


class RequestMetricsMiddleware:
    """Counts each request and its latency by view and status (ecore_http_requests_total and
    ecore_http_request_duration_seconds)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        view, status = view_name(request), str(response.status_code)
        HTTP_REQUESTS.labels(view=view, method=request.method, status=status).inc()
        HTTP_REQUEST_SECONDS.labels(view=view, status=status).observe(time.perf_counter() - started)
        return response
