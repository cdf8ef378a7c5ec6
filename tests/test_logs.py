"""Structured logs: request ids in and out, the fields each line carries, and the context a task takes along.

That a job's lines carry its id in the web's and the worker's real output is test_observability_e2e.py's.
"""

import json
import logging

import pytest
import structlog

from ecore.celery import LOG_CONTEXT_HEADER
from ecore.env import Env
from ecore.logs import log_settings, logging_config
from tests.conftest import TEST_QUEUE
from tests.factories import make_company, make_person

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
JOB = {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
       "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}]}


@pytest.fixture
def acme(db):
    make_person(make_company("Acme Corp", "acme.com"), "Jane", "Doe", job_title="VP Sales")


def finished_lines(caplog) -> list[dict]:
    """The `request_finished` events logged through structlog (their record's message is the event's dict)."""
    return [record.msg for record in caplog.records
            if isinstance(record.msg, dict) and record.msg.get("event") == "request_finished"]


def test_a_callers_request_id_is_kept_and_returned(client):
    response = client.get("/api/v1/account/", HTTP_X_REQUEST_ID="lb-7f3a9c")
    assert response["X-Request-ID"] == "lb-7f3a9c"


def test_a_request_without_an_id_or_with_an_unusable_one_gets_a_new_one(client):
    first = client.get("/api/v1/account/")["X-Request-ID"]
    forged = client.get("/api/v1/account/", HTTP_X_REQUEST_ID='x" level=error')["X-Request-ID"]
    assert len(first) == 32 and len(forged) == 32 and first != forged


def test_a_submit_logs_one_line_with_its_request_user_job_status_and_duration(api_client, alice, acme, caplog):
    caplog.set_level(logging.INFO, logger="ecore.request")
    response = api_client.post(SUBMIT, JOB, format="json", HTTP_X_REQUEST_ID="submit-1")
    assert response.status_code == 200
    line, = finished_lines(caplog)
    assert line["request_id"] == "submit-1"
    assert line["user_id"] == alice.pk
    assert line["job_id"] == response.json()["job_id"]
    assert (line["view"], line["method"], line["status"]) == ("enrichment-submit", "POST", 200)
    assert line["duration_ms"] > 0


def test_probes_are_not_logged_at_info(client, caplog):
    caplog.set_level(logging.INFO, logger="ecore.request")
    client.get("/healthz")
    assert finished_lines(caplog) == []


@pytest.mark.django_db(transaction=True)
def test_the_enqueued_task_carries_the_requests_context_to_the_worker(
        api_client, alice, acme, queued_job_ids, redis_client):
    # Transactional: the task is enqueued as the submit commits, inside the request, as in production.
    job_id = api_client.post(SUBMIT, JOB, format="json", HTTP_X_REQUEST_ID="submit-2").json()["job_id"]
    assert queued_job_ids() == [job_id]
    message, = (json.loads(raw) for raw in redis_client.lrange(TEST_QUEUE, 0, -1))
    assert message["headers"][LOG_CONTEXT_HEADER] == {"request_id": "submit-2", "user_id": alice.pk}


def test_a_plain_logging_line_renders_as_json_with_the_bound_context():
    options = logging_config("json", "INFO")["formatters"]["structured"]
    formatter = structlog.stdlib.ProcessorFormatter(**{key: value for key, value in options.items() if key != "()"})
    record = logging.LogRecord("enrichment.pipeline.runner", logging.WARNING, __file__, 1,
                               "Stage %s: %s unavailable", ("bigquery_contacts", "bigquery"), None)
    with structlog.contextvars.bound_contextvars(job_id="j-1", task_id="t-1"):
        line = json.loads(formatter.format(record))
    assert line["event"] == "Stage bigquery_contacts: bigquery unavailable"
    assert (line["job_id"], line["task_id"], line["level"]) == ("j-1", "t-1", "warning")
    assert line["logger"] == "enrichment.pipeline.runner" and line["timestamp"]


@pytest.mark.parametrize(("environment", "debug", "expected"), [
    ({}, False, ("json", "INFO")),
    ({}, True, ("json", "INFO")),  # stderr is not a terminal under pytest
    ({"LOG_FORMAT": "console", "LOG_LEVEL": "warning"}, False, ("console", "WARNING")),
])
def test_log_format_is_json_unless_asked_or_on_a_developers_terminal(monkeypatch, environment, debug, expected):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert log_settings(Env(), debug=debug) == expected
