"""Company-name search through Meilisearch: one multi-search per batch, pg_trgm when Meilisearch fails, and
`index_companies` pushing DataCore to the index.

No Meilisearch server runs here: a local HTTP server answers with the response shapes Meilisearch documents
(multi-search results, 202 task summaries, task objects, error objects).
"""

import io
import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command

from enrichment.tasks import run_enrichment_job
from sources.company_search import (
    INDEX_DOCUMENT_FIELDS,
    MeilisearchCompanySearch,
    PostgresTrigramSearch,
    company_search_backend,
)
from sources.datacore import COMPANY_COLUMNS
from sources.normalize import normalize_company_name
from tests.factories import make_company

pytestmark = pytest.mark.django_db

API_KEY = "test-master-key"
SUBMIT = "/api/v1/enrichment/submit/"
UNAVAILABLE = (503, {"message": "Meilisearch is unavailable.", "code": "internal", "type": "internal",
                     "link": "https://docs.meilisearch.com/errors#internal"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MeilisearchDouble:
    """What the test server knows: canned hits per query, the tasks it enqueued, and every request it got."""

    def __init__(self):
        self.hits: dict[str, list[tuple[int, float]]] = {}
        self.failure: tuple[int, dict] | None = None
        self.delay = 0.0
        self.task_status = "succeeded"
        self.tasks: dict[int, dict] = {}
        self.requests: list[dict] = []
        self.url = ""

    def requests_to(self, method: str, path: str) -> list[dict]:
        return [request for request in self.requests if request["method"] == method and request["path"] == path]

    def answer(self, method: str, path: str, body) -> tuple[int, dict]:
        if self.delay:
            time.sleep(self.delay)
        if self.failure:
            return self.failure
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["multi-search"]:
            return 200, {"results": [self._search(query) for query in body["queries"]]}
        if method == "POST" and len(parts) == 3 and parts[0] == "indexes" and parts[2] == "documents":
            return 202, self._enqueue(parts[1], "documentAdditionOrUpdate",
                                      {"receivedDocuments": len(body), "indexedDocuments": len(body)})
        if method == "PATCH" and len(parts) == 3 and parts[0] == "indexes" and parts[2] == "settings":
            return 202, self._enqueue(parts[1], "settingsUpdate", body)
        if method == "GET" and len(parts) == 2 and parts[0] == "tasks" and int(parts[1]) in self.tasks:
            return 200, self.tasks[int(parts[1])]
        return 404, {"message": f"Route `{path}` not found.", "code": "not_found", "type": "invalid_request",
                     "link": "https://docs.meilisearch.com/errors#not_found"}

    def _search(self, query: dict) -> dict:
        found = self.hits.get(query["q"], [])[:query.get("limit", 20)]
        hits = [{"id": company_id, **({"_rankingScore": score} if query.get("showRankingScore") else {})}
                for company_id, score in found]
        return {"indexUid": query["indexUid"], "hits": hits, "query": query["q"], "processingTimeMs": 1,
                "limit": query.get("limit", 20), "offset": 0, "estimatedTotalHits": len(hits)}

    def _enqueue(self, index_uid: str, task_type: str, details: dict) -> dict:
        uid = len(self.tasks)
        enqueued_at = _now()
        failed = self.task_status == "failed"
        self.tasks[uid] = {
            "uid": uid, "batchUid": uid, "indexUid": index_uid, "status": self.task_status, "type": task_type,
            "canceledBy": None, "details": details, "duration": "PT0.004S", "enqueuedAt": enqueued_at,
            "startedAt": enqueued_at, "finishedAt": _now(),
            "error": {"message": "Index `companies`: the document has no primary key.",
                      "code": "missing_document_id", "type": "invalid_request",
                      "link": "https://docs.meilisearch.com/errors#missing_document_id"} if failed else None,
        }
        return {"taskUid": uid, "indexUid": index_uid, "status": "enqueued", "type": task_type,
                "enqueuedAt": enqueued_at}


def _handler_for(double: MeilisearchDouble):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            double.requests.append({"method": self.command, "path": url.path, "query": url.query, "body": body,
                                    "authorization": self.headers.get("Authorization")})
            status, payload = double.answer(self.command, url.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def meilisearch(settings):
    double = MeilisearchDouble()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(double))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.MEILISEARCH_URL, settings.MEILISEARCH_API_KEY = double.url, API_KEY
    settings.MEILISEARCH_INDEX, settings.MEILISEARCH_TIMEOUT_SECONDS = "companies", 1
    yield double
    server.shutdown()
    server.server_close()


@pytest.fixture
def companies(db):
    return (make_company("Acme Corp", "acme.com", industry="Software"),
            make_company("Globex Corporation", "globex.com", industry="Manufacturing"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def submit(client, **body) -> str:
    response = client.post(SUBMIT, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def test_a_batch_is_one_multi_search_and_one_datacore_query(meilisearch, companies, django_assert_num_queries):
    acme, globex = companies
    meilisearch.hits = {"globx": [(globex.id, 0.91), (acme.id, 0.31)], "initech": []}
    backend = company_search_backend()
    assert isinstance(backend, MeilisearchCompanySearch)

    with django_assert_num_queries(1):
        found = backend.search_many(["globx", "initech", "globx", ""])

    assert backend.source == "meilisearch" and backend.note == ""
    assert [(company["id"], score) for company, score in found["globx"]] == [(globex.id, 0.91), (acme.id, 0.31)]
    assert set(found["globx"][0][0]) == set(COMPANY_COLUMNS) and found["globx"][0][0]["industry"] == "Manufacturing"
    assert "initech" not in found
    [request] = meilisearch.requests
    assert (request["method"], request["path"], request["authorization"]) == (
        "POST", "/multi-search", f"Bearer {API_KEY}")
    assert [(query["indexUid"], query["q"], query["limit"], query["showRankingScore"])
            for query in request["body"]["queries"]] == [("companies", "globx", 3, True),
                                                          ("companies", "initech", 3, True)]


@pytest.mark.parametrize("failure", ["error", "timeout", "bad_response"])
def test_a_meilisearch_failure_falls_back_to_pg_trgm_for_the_batch(meilisearch, companies, failure):
    _, globex = companies
    if failure == "error":
        meilisearch.failure = UNAVAILABLE
    elif failure == "timeout":
        meilisearch.delay = 1.3  # the client gives up after MEILISEARCH_TIMEOUT_SECONDS = 1
    else:
        meilisearch.hits = {"globx": [(globex.id, 0.9)]}
        meilisearch.failure = (200, {"results": []})
    backend = company_search_backend()

    found = backend.search_many(["globx"])

    assert backend.source == "pg_trgm" and backend.note.startswith("meilisearch unavailable, pg_trgm answered")
    assert found == PostgresTrigramSearch().search_many(["globx"])
    assert [company["id"] for company, _ in found["globx"]] == [globex.id]


def test_an_account_job_fills_a_company_found_by_meilisearch(api_client, meilisearch, companies):
    _, globex = companies
    meilisearch.hits = {normalize_company_name("Globx Corp"): [(globex.id, 0.93)]}
    job_id = submit(api_client, type="account", level="standard", fields_to_enrich=["industry"],
                    data=[{"company_website": "acme.com"}, {"company_name": "Globx Corp"},
                          {"company_name": "Nonexistent Widgets"}])
    run_enrichment_job(job_id)

    rows = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert [row["industry"] for row in rows] == ["Software", "Manufacturing", ""]
    assert rows[1]["enrichment_source"] == "meilisearch"
    assert rows[1]["field_sources"]["industry"]["source"] == "meilisearch"
    stages = {entry["name"]: entry for entry in api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["stages"]}
    assert stages["company_search"]["source"] == "meilisearch" and stages["company_search"]["rows_filled"] == 1
    # Acme was found by its domain; only the two names DataCore did not know were searched, in one request.
    [request] = meilisearch.requests_to("POST", "/multi-search")
    assert sorted(query["q"] for query in request["body"]["queries"]) == ["globx", "nonexistent widgets"]


def test_an_account_job_falls_back_to_pg_trgm_when_meilisearch_is_down(api_client, settings, companies):
    settings.MEILISEARCH_URL, settings.MEILISEARCH_TIMEOUT_SECONDS = f"http://127.0.0.1:{_closed_port()}", 1
    job_id = submit(api_client, type="account", level="standard", fields_to_enrich=["industry"],
                    data=[{"company_name": "Globx Corp"}])
    run_enrichment_job(job_id)

    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    assert status["status"] == "Enrichment Completed"
    stage = {entry["name"]: entry for entry in status["stages"]}["company_search"]
    assert stage["source"] == "pg_trgm" and stage["detail"].startswith("meilisearch unavailable")
    [row] = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert row["industry"] == "Manufacturing" and row["field_sources"]["industry"]["source"] == "pg_trgm"


def test_index_companies_pushes_datacore_in_batches_and_waits_for_the_tasks(meilisearch, companies):
    initech = make_company("Initech", "initech.com", company_hq_country_code="US")
    out = io.StringIO()

    call_command("index_companies", "--batch-size=2", stdout=out)

    assert out.getvalue().strip() == "3 companies indexed into 'companies'"
    [settings_request] = meilisearch.requests_to("PATCH", "/indexes/companies/settings")
    assert settings_request["body"]["searchableAttributes"] == ["name_norm", "company_name", "domain_norm"]
    pushes = meilisearch.requests_to("POST", "/indexes/companies/documents")
    assert [len(push["body"]) for push in pushes] == [2, 1]
    assert all(push["query"] == "primaryKey=id" for push in pushes)
    documents = [document for push in pushes for document in push["body"]]
    assert [document["id"] for document in documents] == sorted(c.id for c in (*companies, initech))
    assert documents[2] == {"id": initech.id, "company_name": "Initech", "name_norm": "initech",
                            "domain_norm": "initech.com", "company_website": "initech.com",
                            "company_hq_country_code": "US"}
    assert set(documents[0]) == set(INDEX_DOCUMENT_FIELDS)
    waited = sorted(request["path"] for request in meilisearch.requests if request["method"] == "GET")
    assert waited == ["/tasks/0", "/tasks/1", "/tasks/2"]
    assert all(request["authorization"] == f"Bearer {API_KEY}" for request in meilisearch.requests)


def test_index_companies_fails_loudly_on_a_failed_task_or_an_unreachable_server(meilisearch, companies, settings):
    meilisearch.task_status = "failed"
    with pytest.raises(CommandError, match="failed.*missing_document_id"):
        call_command("index_companies", stdout=io.StringIO())

    settings.MEILISEARCH_URL = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(CommandError, match="MeilisearchCommunicationError"):
        call_command("index_companies", stdout=io.StringIO())
