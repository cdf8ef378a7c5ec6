"""Start-up settings: values that are not what they claim to be stop the process with a clear message."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from ecore.env import Env
from tests.worker import ROOT

SETUP = "import django; django.setup()"


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter with the project's settings and these variables."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "ecore.settings", **env})


def test_a_boolean_setting_that_is_not_a_boolean_stops_start_up_with_its_name_and_value():
    started = run_python(SETUP, BIGQUERY_ENABLED="ture")
    assert started.returncode != 0
    assert "ImproperlyConfigured: BIGQUERY_ENABLED='ture' is not a boolean" in started.stderr


def test_a_boolean_setting_that_says_true_starts():
    started = run_python(SETUP + "; from django.conf import settings; print(settings.FIRESTORE_ENABLED)",
                         FIRESTORE_ENABLED="True", FIRESTORE_EMULATOR_HOST="")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "True"


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("YES", True), ("1", True), ("on", True),
    ("false", False), ("No", False), ("0", False), ("off", False),
])
def test_booleans_read_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("ECORE_TEST_FLAG", value)
    assert Env().bool("ECORE_TEST_FLAG", default=not expected) is expected


def test_an_empty_boolean_is_its_default_and_a_required_one_must_be_set(monkeypatch):
    monkeypatch.setenv("ECORE_TEST_FLAG", "")
    assert Env().bool("ECORE_TEST_FLAG", default=True) is True
    with pytest.raises(ImproperlyConfigured, match="Set the ECORE_TEST_FLAG"):
        Env().bool("ECORE_TEST_FLAG")
