"""Schemathesis over the whole OpenAPI schema, in process against the real PostgreSQL and Redis.

Every operation gets the schema's examples, the coverage phase's boundary and negative cases and
MAX_EXAMPLES generated ones, authenticated as a user with credits and a plan (or deliberately not).
No answer may be a 5xx, and each must be one the schema documents: its status code, content type and
body. The seed and the example count are fixed, so a run is reproducible and bounded (about a minute).
"""

import time
from collections import Counter
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ecore.wsgi import application
from enrichment.services import job_submit
from enrichment.tasks import run_enrichment_job
from enrichment.validation import validate_submission
from pricing.services import plan_assign
from tests.conftest import TEST_QUEUE
from tests.factories import make_company, make_person
from tokens.services import api_token_create

MAX_EXAMPLES = 60  # generated cases per operation, on top of the examples and the coverage cases
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONTROL, SUBMIT = "/api/v1/enrichment-control/", "/api/v1/enrichment/submit/"
# Cases are built before any fixture has run, so they carry placeholders that the test swaps for the
# fixture's token and job ids. A generated job id is always someone else's or nobody's.
TOKEN_PLACEHOLDER = "fuzzer-token"
FINISHED_JOB, QUEUED_JOB, OTHER_USERS_JOB = "fuzzer-finished-job", "fuzzer-queued-job", "someone-elses-job"
JOB_PLACEHOLDERS = [FINISHED_JOB, QUEUED_JOB, OTHER_USERS_JOB]

# Loaded at import: schemathesis.pytest.from_fixture would load it in a fixture, but 4.32 sets a node attribute
# (`_nodeid`) that pytest 9.2 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=schemathesis.Config.from_dict({
    "seed": 15,
    # Without shrinking a failure is reported at once, as generated, instead of after minutes of minimizing.
    "generation": {"max-examples": MAX_EXAMPLES, "no-shrink": True, "database": "none"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
}))


@schema.auth(refresh_interval=None)
class FuzzerToken:
    def get(self, case, context):
        return TOKEN_PLACEHOLDER

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.hook
def before_generate_path_parameters(context, strategy):
    if "{job_id}" not in context.operation.path:
        return strategy
    return st.one_of(strategy, st.sampled_from(JOB_PLACEHOLDERS).map(lambda job_id: {"job_id": job_id}))


@schema.hook
def before_generate_query(context, strategy):
    if "format" not in {parameter.name for parameter in context.operation.query}:
        return strategy
    # The downloads too, which an optional parameter seldom asks for.
    return st.one_of(strategy, st.sampled_from(["csv", "xlsx"]).map(lambda export: {"format": export}))


@schema.hook
def before_generate_body(context, strategy):
    if context.operation.path != CONTROL:
        return strategy
    return st.one_of(strategy, st.fixed_dictionaries({
        "job_id": st.sampled_from(JOB_PLACEHOLDERS), "action": st.sampled_from(["pause", "resume"])}))


@dataclass(frozen=True)
class Fuzzer:
    token: str
    jobs: dict[str, str]  # placeholder -> real job id


def _submit(user, **submission) -> str:
    job, _ = job_submit(user=user, submission=validate_submission(submission, from_form=False))
    return str(job.job_id)


@pytest.fixture
def fuzzer(transactional_db, make_user, redis_client):
    """A funded user on a plan, with a finished job, a queued one, and someone else's job. Transactional:
    requests commit as in production, and what they commit is flushed after each operation."""
    company = make_company("Acme Corp", "acme.com")
    make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com", contact_mobile_phone="+15125550111",
                contact_linkedin_url="https://www.linkedin.com/in/janedoe")
    user = make_user("fuzzer", credits=10_000_000)
    # Lookups per second far above what the fuzzer sends: a 429 would stop its cases at the door.
    plan_assign(username=user.username, enrichment_limit=500, rate_limit_per_second=100_000)
    finished = _submit(user, type="contact", level="standard", fields_to_enrich=["contact_email", "job_title"],
                       data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                             {"contact_email": "nobody@nowhere.example", "note": "=1+1"}])
    run_enrichment_job(finished)
    queued = _submit(user, type="account", level="standard", fields_to_enrich=["industry"],
                     data=[{"company_name": "Acme Corp"}, {"company_website": "example.org"}])
    other = _submit(make_user("someone-else", credits=1000), type="account", level="standard",
                    fields_to_enrich=["industry"], data=[{"company_name": "Acme Corp"}])
    yield Fuzzer(token=api_token_create(user=user).plaintext,
                 jobs={FINISHED_JOB: finished, QUEUED_JOB: queued, OTHER_USERS_JOB: other})
    redis_client.delete(TEST_QUEUE)


@pytest.fixture(scope="module")
def answers(request):
    """The status codes of every request sent, summed up at the end of the run."""
    counts, started = Counter(), time.monotonic()
    yield counts
    server_errors = sum(count for code, count in counts.items() if code >= 500)
    # What capsys.disabled() does, for a module's fixture: the summary shows without -s.
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nAPI fuzz: {counts.total()} requests in {time.monotonic() - started:.0f} s, {server_errors} 5xx; "
              f"by status {dict(sorted(counts.items()))}")


def _with_fuzzer_values(case, fuzzer: Fuzzer) -> str | None:
    """Puts the fuzzer's token and job ids in place of their placeholders; the job id the case asks for."""
    if (case.headers or {}).get("Authorization") == f"Bearer {TOKEN_PLACEHOLDER}":
        case.headers["Authorization"] = f"Bearer {fuzzer.token}"
    for values in (case.path_parameters, case.body):
        job_id = values.get("job_id") if isinstance(values, dict) else None
        if isinstance(job_id, str) and job_id in fuzzer.jobs:
            values["job_id"] = fuzzer.jobs[job_id]
            return values["job_id"]
    return None


@pytest.mark.fuzz
@schema.parametrize()
# One fuzzer for all of an operation's cases: they read and spend the same wallet and jobs.
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_api_answers_as_its_schema_documents(case, fuzzer, answers):
    job_id = _with_fuzzer_values(case, fuzzer)
    response = case.call()
    answers[response.status_code] += 1
    case.validate_response(response, checks=CHECKS)
    if job_id == fuzzer.jobs[OTHER_USERS_JOB]:
        assert response.status_code in (400, 401, 404), "another user's job must look like a missing one"
