"""PostgreSQL ends every session (a failover, a restart, `pg_terminate_backend`): gunicorn's workers answer
their next requests as before, never with a 500."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.live_service import WebServer
from tests.worker import other_backends, terminate_other_backends, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def web(tmp_path):
    server = WebServer(tmp_path)
    yield server
    server.stop()


def test_no_request_is_a_500_after_the_database_ended_every_session(web, api_client):
    headers = {"Authorization": f"Bearer {api_client.token.plaintext}"}
    statuses = []

    def requests_at_once(count: int = 8) -> None:
        # At once, so that both gunicorn workers take some of them.
        with ThreadPoolExecutor(count) as pool:
            statuses.extend(pool.map(lambda _: httpx.get(f"{web.url}/api/v1/account/", headers=headers,
                                                         timeout=10).status_code, range(count)))

    def both_workers_connected(*, besides: frozenset = frozenset()) -> bool:
        requests_at_once()
        return len(other_backends() - besides) >= 2

    wait_for(both_workers_connected, timeout=30, message="both gunicorn workers to hold a connection")
    killed = terminate_other_backends()
    assert len(killed) >= 2
    statuses.clear()

    # Until each worker has opened a new session: each has answered at least one request since the kill.
    wait_for(lambda: both_workers_connected(besides=frozenset(killed)), timeout=30,
             message="both gunicorn workers to reconnect")
    assert statuses and set(statuses) == {200}
