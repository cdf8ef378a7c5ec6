"""The operators' endpoints: liveness, readiness and Prometheus metrics.

Plain Django views, outside DRF: no API token, so neither the test tokens' daily quota nor the per-token
rate limits ever count a probe or a scrape.
"""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ecore.health import readiness_check_all


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
