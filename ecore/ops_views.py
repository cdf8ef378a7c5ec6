"""The operators' endpoints: liveness, readiness and Prometheus metrics.

Plain Django views, outside DRF: no API token, so neither the test tokens' daily quota nor the per-token
rate limits ever count a probe or a scrape.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from ecore.health import readiness_check_all
from ecore.metrics import metrics_exposition

FORWARDING_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")


@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Touches no dependency, so it is always fast."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    """Readiness: each configured dependency's state and time; 503 when one of them fails."""
    results = readiness_check_all()
    ready = all(result.ok for result in results)
    return JsonResponse({"status": "ok" if ready else "unavailable",
                         "checks": {result.name: result.as_dict() for result in results}},
                        status=200 if ready else 503)


@never_cache
@require_safe
def metrics(request):
    """Prometheus metrics: the samples of every web and worker process sharing the metrics directory."""
    if not _metrics_caller_allowed(request):
        return HttpResponse("Send Authorization: Bearer <METRICS_TOKEN>, or scrape from METRICS_ALLOWED_NETWORKS.\n",
                            status=403, content_type="text/plain")
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)


def _metrics_caller_allowed(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if settings.METRICS_TOKEN and scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), settings.METRICS_TOKEN.encode()):
        return True
    if any(header in request.META for header in FORWARDING_HEADERS):
        # Forwarded by a proxy: REMOTE_ADDR is the proxy's, not the caller's.
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
