"""Whether the local cloud emulators a test needs are running: CI exports their hosts when they are."""

import os

import pytest


def bigquery_emulator_host() -> str:
    """BIGQUERY_EMULATOR_HOST ("host:port" or a URL), or the test is skipped."""
    host = os.environ.get("BIGQUERY_EMULATOR_HOST", "")
    if not host:
        pytest.skip("BigQuery emulator not running")
    return host


def firestore_emulator_host() -> str:
    """FIRESTORE_EMULATOR_HOST ("host:port"), or the test is skipped."""
    host = os.environ.get("FIRESTORE_EMULATOR_HOST", "")
    if not host:
        pytest.skip("Firestore emulator not running (scripts/start_emulators firestore)")
    return host
