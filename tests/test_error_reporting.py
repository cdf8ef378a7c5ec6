"""Sentry: started with its Django and Celery integrations when SENTRY_DSN is set, never without it."""

import json

import pytest

from ecore.sentry import sentry_setup
from tests.test_settings import SETUP, run_python

# A DSN whose host is a closed port on loopback: nothing is sent at start-up, and nothing could leave.
LOCAL_DSN = "https://public@127.0.0.1:9/1"
CLIENT_STATE = (SETUP + "; import json, sentry_sdk; client = sentry_sdk.get_client(); "
                "print(json.dumps({'active': client.is_active(), 'integrations': sorted(client.integrations), "
                "'pii': client.options['send_default_pii'], 'environment': client.options['environment']}))")


@pytest.fixture
def init_calls(monkeypatch):
    import sentry_sdk

    calls = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: calls.append(options))
    return calls


def test_without_a_dsn_sentry_is_not_started(init_calls):
    assert sentry_setup(dsn="", environment="production") is False
    assert init_calls == []


def test_with_a_dsn_sentry_starts_with_the_django_and_celery_integrations_and_no_personal_data(init_calls):
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    assert sentry_setup(dsn=LOCAL_DSN, environment="staging", traces_sample_rate=0.1) is True
    options, = init_calls
    assert {type(integration) for integration in options["integrations"]} == {DjangoIntegration, CeleryIntegration}
    assert (options["dsn"], options["environment"], options["traces_sample_rate"]) == (LOCAL_DSN, "staging", 0.1)
    assert options["send_default_pii"] is False and options["include_local_variables"] is False
    assert options["max_request_body_size"] == "never"


def test_the_settings_start_sentry_only_when_sentry_dsn_is_set():
    without = run_python(CLIENT_STATE, SENTRY_DSN="")
    assert without.returncode == 0, without.stderr
    assert json.loads(without.stdout)["active"] is False

    with_dsn = run_python(CLIENT_STATE, SENTRY_DSN=LOCAL_DSN, SENTRY_ENVIRONMENT="ci")
    assert with_dsn.returncode == 0, with_dsn.stderr
    state = json.loads(with_dsn.stdout)
    assert state["active"] is True
    assert {"django", "celery"} <= set(state["integrations"])
    assert (state["pii"], state["environment"]) == (False, "ci")
