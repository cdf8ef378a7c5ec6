"""The service's index at `/` and `/api/v1/`: where the docs, the schema, the admin and the endpoints are."""

from django.conf import settings
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from drf_spectacular.views import SpectacularRedocView

# (name, method, URL name, what it does); `{job_id}` stands for a job's id.
ENDPOINTS = [
    ("submit", "POST", "enrichment-submit", "Submit an enrichment job (JSON body or a CSV/XLSX upload)"),
    ("estimate", "POST", "enrichment-estimate", "Preview a job's cost, free"),
    ("jobs", "GET", "enrichment-status-list", "Your jobs, newest first"),
    ("status", "GET", "enrichment-status", "A job's status, progress, credits and stages"),
    ("results", "GET", "enrichment-results", "A job's rows, or a CSV/XLSX download"),
    ("control", "POST", "enrichment-control", "Pause or resume a job"),
    ("phone", "POST", "external-phone-enrichment", "A phone for one person"),
    ("email", "POST", "external-email-enrichment", "A deliverable email for one person"),
    ("person_company", "POST", "enrichment-single", "Person and company in one call"),
    ("account", "GET", "account", "Your balance, plan and token"),
    ("usage", "GET", "account-usage", "Where your credits went, per day, job or endpoint"),
    ("ledger", "GET", "account-ledger", "Every movement of your credits"),
    ("webhook_secret", "GET", "account-webhook-secret", "Read or rotate your webhook signing secret"),
]
JOB_PATHS = {"enrichment-status", "enrichment-results"}


def _endpoint_url(request, url_name: str) -> str:
    if url_name in JOB_PATHS:
        return request.build_absolute_uri(reverse(url_name, args=["JOB_ID"])).replace("JOB_ID", "{job_id}")
    return request.build_absolute_uri(reverse(url_name))


def service_links(request) -> dict:
    absolute = request.build_absolute_uri
    return {
        "name": settings.SPECTACULAR_SETTINGS["TITLE"],
        "version": settings.SPECTACULAR_SETTINGS["VERSION"],
        "authentication": "Authorization: Bearer <your API token>",
        "links": {
            "api": absolute(reverse("api-index")),
            "docs": absolute(reverse("swagger-ui")),
            "redoc": absolute(reverse("redoc")),
            "schema": absolute(reverse("schema")),
            "admin": absolute(reverse("admin:index")),
        },
        "endpoints": [{"name": name, "method": method, "url": _endpoint_url(request, url_name),
                       "description": description} for name, method, url_name, description in ENDPOINTS],
    }


def service_index(request):
    """JSON for API clients; a page of the same links for a browser (one that prefers HTML)."""
    links = service_links(request)
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        response = TemplateResponse(request, "ecore/index.html", {"service": links})
    else:
        response = JsonResponse(links, json_dumps_params={"indent": 2})
    patch_vary_headers(response, ["Accept"])
    return response


class RedocView(SpectacularRedocView):
    """ReDoc from drf-spectacular-sidecar's files, on a page that fetches nothing from elsewhere: no web
    fonts (ecore/redoc.html), and no image but this service's, which stops ReDoc's sidebar logo
    (hard-coded to Redocly's CDN) before it leaves the browser."""

    template_name = "ecore/redoc.html"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = "img-src 'self' data:"
        return response
