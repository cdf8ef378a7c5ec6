"""eCore's middleware: every request counted on the metrics, and the admin's own kept off the API.

Sessions, CSRF, the signed-in user and flash messages serve `/admin/`. The API authenticates every
request by its token and never reads a session, and these four cost about 0.3 ms of CPU on each
API request. They stay subclasses of Django's own, so the admin's checks still find them.
"""

import time

from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware

from ecore.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

API_PREFIX = "/api/"
# The view label of a request no URL matched (a 404, or a static file WhiteNoise served).
UNMATCHED_VIEW = "unmatched"


def is_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


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
