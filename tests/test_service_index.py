"""`/` and `/api/v1/` answer with where the docs, the schema, the admin and the endpoints are."""

import pytest

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("path", ["/", "/api/v1/"])
def test_the_index_answers_api_clients_with_links_that_work(client, path):
    response = client.get(path, HTTP_ACCEPT="*/*")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "Accept" in response["Vary"]
    index = response.json()
    assert index["links"] == {"api": "http://testserver/api/v1/", "docs": "http://testserver/api/docs/",
                              "redoc": "http://testserver/api/redoc/", "schema": "http://testserver/api/schema/",
                              "admin": "http://testserver/admin/"}
    for name in ("api", "docs", "redoc", "schema"):
        assert client.get(index["links"][name]).status_code == 200, name
    assert client.get(index["links"]["admin"]).status_code == 302  # to the login page
    endpoints = {endpoint["name"]: endpoint for endpoint in index["endpoints"]}
    assert endpoints["submit"] == {"name": "submit", "method": "POST",
                                   "url": "http://testserver/api/v1/enrichment/submit/",
                                   "description": "Submit an enrichment job (JSON body or a CSV/XLSX upload)"}
    assert endpoints["status"]["url"] == "http://testserver/api/v1/enrichment/status/{job_id}/"
    assert {"account", "usage", "ledger", "phone", "email", "person_company"} <= set(endpoints)


def test_every_endpoint_listed_is_a_real_path_of_the_schema(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    listed = [endpoint["url"].removeprefix("http://testserver") for endpoint in client.get("/api/v1/").json()["endpoints"]]
    assert [url for url in listed if url not in paths] == []


def test_a_browser_gets_a_page_of_the_same_links(client):
    response = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)
    page = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    for link in ('href="http://testserver/api/docs/"', 'href="http://testserver/api/redoc/"',
                 'href="http://testserver/api/schema/"', 'href="http://testserver/admin/"',
                 "http://testserver/api/v1/enrichment/submit/"):
        assert link in page


def test_an_unknown_path_is_still_a_404(client):
    assert client.get("/api/v1/nothing-here/").status_code == 404


@pytest.mark.parametrize(("path", "asset"), [
    ("/api/docs/", "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
    ("/api/redoc/", "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
])
def test_the_docs_pages_load_their_code_from_this_service(client, path, asset):
    page = client.get(path).content.decode()
    assert asset in page
    assert "https://" not in page


def test_redoc_may_load_images_from_this_service_only_and_stays_out_of_the_schema(client):
    assert client.get("/api/redoc/")["Content-Security-Policy"] == "img-src 'self' data:"
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert [path for path in paths if not path.startswith("/api/v1/")] == []
