"""GET /healthz and /readyz: what a load balancer, Kubernetes or Docker asks, without a token."""

import socket
import time

import pytest

from tests.live_service import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_the_core_dependencies(settings):
    """PostgreSQL and Redis; a test switches an optional store on itself (CI may export emulator hosts)."""
    settings.FIRESTORE_EMULATOR_HOST = ""
    settings.FIRESTORE_ENABLED = False
    settings.MEILISEARCH_URL = ""


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers: a dependency that hangs rather than refuses."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_liveness_answers_without_a_token_or_any_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness_reports_each_dependency_with_its_time(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"postgresql", "redis_broker", "redis_cache"}
    for check in body["checks"].values():
        assert check["state"] == "ok" and check["ms"] >= 0


def test_readiness_is_503_while_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis_broker"] == {"state": "failed", "ms": body["checks"]["redis_broker"]["ms"],
                                              "error": "ConnectionError"}
    assert body["checks"]["postgresql"]["state"] == "ok"
    assert body["checks"]["redis_cache"]["state"] == "ok"


def test_a_configured_store_that_is_down_makes_the_service_unready(client, settings):
    settings.MEILISEARCH_URL = f"http://127.0.0.1:{free_port()}"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["meilisearch"]["state"] == "failed"


def test_a_dependency_that_hangs_fails_its_check_within_the_timeout(client, settings, silent_server):
    settings.READINESS_TIMEOUT_SECONDS = 0.3
    settings.MEILISEARCH_URL = f"http://127.0.0.1:{silent_server}"
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json()["checks"]["meilisearch"]["state"] == "failed"
    assert response.json()["checks"]["postgresql"]["state"] == "ok"


def test_the_probes_are_never_rate_limited_nor_counted_against_a_test_tokens_quota(client, make_user, make_client):
    test_client = make_client(make_user("tester"), kind="test", daily_limit=1)
    for _ in range(3):
        assert test_client.get("/healthz").status_code == 200
        assert test_client.get("/readyz").status_code == 200
    assert test_client.get("/api/v1/account/").status_code == 200
