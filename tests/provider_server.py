"""A local stand-in for the Pro providers: their documented payloads over real HTTP, and their failures.

One threaded server plays Serper (`POST /search`), AnyMailFinder (`POST /v5.0/search/person.json`),
ZeroBounce (`GET /v2/validate`, `POST /v2/validatebatch`: any documented status and sub_status, and
catch-all domains) and Netnut: as an HTTP proxy it receives
absolute-form requests (`GET http://www.linkedin.com/in/<slug>/`) and serves profile pages. Tests
queue faults per provider: a status (429, 500, 503), a delay beyond the client's timeout, a malformed body.
"""

import base64
import html
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-api-key"
PROXY_USERNAME = "netnut-user"
PROXY_PASSWORD = "netnut-secret"


@dataclass(frozen=True)
class Fault:
    status: int = 200
    body: bytes | None = None  # None: the provider's normal answer (after any delay)
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SeenRequest:
    provider: str
    method: str
    target: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def profile_page(*, name: str, job_title: str = "", company: str = "", json_ld: bool = True) -> str:
    """A LinkedIn public profile page as the guest view serves it: JSON-LD graph and Open Graph tags."""
    person = {"@type": "Person", "name": name, "jobTitle": [job_title] if job_title else [],
              "worksFor": [{"@type": "Organization", "name": company}] if company else []}
    graph = {"@context": "http://schema.org", "@graph": [{"@type": "WebPage", "name": name}, person]}
    og_title = " - ".join(part for part in (name, job_title, company) if part) + " | LinkedIn"
    script = f'<script type="application/ld+json">{json.dumps(graph)}</script>' if json_ld else ""
    return (f'<!DOCTYPE html><html><head><title>{html.escape(og_title)}</title>'
            f'<meta property="og:title" content="{html.escape(og_title)}">'
            f'<meta property="og:description" content="Experience: {html.escape(company)} · Location: Austin">'
            f"{script}</head><body><h1>{html.escape(name)}</h1></body></html>")


class ProviderServer:
    def __init__(self):
        self.serper_results: dict[str, dict] = {}
        self.emails: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.verdicts: dict[str, tuple[str, str]] = {}
        # Domains whose every address ZeroBounce answers "catch-all" for (an address in `verdicts` aside).
        self.catch_all_domains: set[str] = set()
        self.profiles: dict[str, str] = {}
        self.seen: list[SeenRequest] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._always: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.provider_server = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "ProviderServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def configure(self, settings, *, providers=("serper", "netnut", "anymailfinder", "zerobounce")) -> None:
        """Points the Django settings of the named providers here, with fast timeouts and backoff."""
        settings.PRO_PROVIDER_TIMEOUT_SECONDS = settings.ANYMAILFINDER_TIMEOUT_SECONDS = 0.5
        settings.PRO_PROVIDER_BACKOFF_SECONDS = 0.01
        if "serper" in providers:
            settings.SERPER_API_KEY, settings.SERPER_BASE_URL = API_KEY, self.url
        if "anymailfinder" in providers:
            settings.ANYMAILFINDER_API_KEY, settings.ANYMAILFINDER_BASE_URL = API_KEY, f"{self.url}/v5.0"
        if "zerobounce" in providers:
            settings.ZEROBOUNCE_API_KEY = API_KEY
            settings.ZEROBOUNCE_BASE_URL = settings.ZEROBOUNCE_BULK_BASE_URL = f"{self.url}/v2"
        if "netnut" in providers:
            settings.NETNUT_USERNAME, settings.NETNUT_PASSWORD = PROXY_USERNAME, PROXY_PASSWORD
            settings.NETNUT_PROXY_URL = self.url
            # Plain http, so the request reaches the proxy in absolute form instead of a CONNECT tunnel.
            settings.NETNUT_PROFILE_BASE_URL = "http://www.linkedin.com"

    def fail_next(self, provider: str, *faults: Fault) -> None:
        with self._lock:
            self._faults.setdefault(provider, deque()).extend(faults)

    def fail_always(self, provider: str, fault: Fault) -> None:
        with self._lock:
            self._always[provider] = fault

    def requests_to(self, provider: str) -> list[SeenRequest]:
        with self._lock:
            return [request for request in self.seen if request.provider == provider]

    def _fault_for(self, provider: str) -> Fault | None:
        with self._lock:
            queued = self._faults.get(provider)
            return queued.popleft() if queued else self._always.get(provider)

    def sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def handle(self, request: "_Handler") -> None:
        target = request.path
        provider = _provider_of(target)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self._lock:
            self.seen.append(SeenRequest(provider, request.command, target, dict(request.headers), body))
        fault = self._fault_for(provider)
        if fault is not None:
            self.sleep(fault.delay)
            if fault.status != 200 or fault.body is not None:
                return request.answer(fault.status, fault.body or b'{"error": "fault"}', headers=fault.headers)
        answer = {"serper": self._serper, "anymailfinder": self._anymailfinder, "zerobounce": self._zerobounce,
                  "netnut": self._netnut}.get(provider)
        if answer is None:
            return request.answer(404, b'{"error": "no such endpoint"}')
        status, payload, content_type = answer(request, target, body)
        request.answer(status, payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
                       content_type=content_type)

    def _serper(self, request, target, body):
        if request.headers.get("X-API-KEY") != API_KEY:
            return 403, {"message": "Unauthorized.", "statusCode": 403}, "application/json"
        query = json.loads(body)["q"]
        results = self.serper_results.get(query, {"organic": []})
        return 200, {"searchParameters": {"q": query, "type": "search", "engine": "google"}, **results,
                     "credits": 1}, "application/json"

    def _anymailfinder(self, request, target, body):
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return 401, {"error": "not_authorized", "error_explained": "Please authenticate."}, "application/json"
        asked = json.loads(body)
        key = (asked.get("first_name", "").lower(), asked.get("last_name", "").lower(), asked.get("domain", ""))
        if key not in self.emails:
            return 404, {"success": False, "error": "not_found", "error_explained": "No email found."}, "application/json"
        email, validation = self.emails[key]
        return 200, {"success": True, "results": {"email": email, "validation": validation, "emails": [email]},
                     "input": asked}, "application/json"

    def _verdict(self, email: str) -> dict:
        default = ("catch-all", "") if email.split("@")[-1].lower() in self.catch_all_domains else ("valid", "")
        status, sub_status = self.verdicts.get(email.lower(), default)
        return {"address": email, "status": status, "sub_status": sub_status, "free_email": False,
                "did_you_mean": None, "account": email.split("@")[0], "domain": email.split("@")[-1],
                "mx_found": "true", "mx_record": "mx.example.net", "smtp_provider": "example",
                "firstname": None, "lastname": None, "gender": None, "processed_at": "2024-01-01 00:00:00.000"}

    def _zerobounce(self, request, target, body):
        path = urlsplit(target).path
        if path.endswith("/validatebatch"):
            asked = json.loads(body)
            if asked.get("api_key") != API_KEY:
                return 200, {"email_batch": [], "errors": [
                    {"error": "Invalid API Key or your account ran out of credits", "email_address": "all"}]}, \
                    "application/json"
            return 200, {"email_batch": [self._verdict(item["email_address"]) for item in asked["email_batch"]],
                         "errors": []}, "application/json"
        params = parse_qs(urlsplit(target).query)
        if params.get("api_key") != [API_KEY]:
            return 200, {"error": "Invalid API Key or your account ran out of credits"}, "application/json"
        return 200, self._verdict(params["email"][0]), "application/json"

    def _netnut(self, request, target, body):
        expected = base64.b64encode(f"{PROXY_USERNAME}:{PROXY_PASSWORD}".encode()).decode()
        if request.headers.get("Proxy-Authorization") != f"Basic {expected}":
            return 407, b"Proxy Authentication Required", "text/plain"
        slug = urlsplit(target).path.strip("/").split("/")[-1]
        page = self.profiles.get(slug)
        if page is None:
            return 404, b"<html><body>Profile not found</body></html>", "text/html; charset=utf-8"
        return 200, page.encode(), "text/html; charset=utf-8"


def _provider_of(target: str) -> str:
    parts = urlsplit(target)
    if parts.scheme and parts.netloc.endswith("linkedin.com"):
        return "netnut"
    if parts.path == "/search":
        return "serper"
    if parts.path.startswith("/v5.0/search/"):
        return "anymailfinder"
    if parts.path.startswith("/v2/"):
        return "zerobounce"
    return "unknown"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.provider_server.handle(self)

    do_POST = do_GET

    def answer(self, status: int, body: bytes, *, content_type: str = "application/json", headers=None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout) before the slow answer came.
            pass

    def log_message(self, format, *args):
        pass

