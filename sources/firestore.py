"""The Firestore client: the local emulator when FIRESTORE_EMULATOR_HOST is set, else Google Cloud with ADC."""

from functools import lru_cache

from django.conf import settings
from google.api_core.retry import Retry, if_transient_error
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore


def firestore_configured() -> bool:
    return bool(settings.FIRESTORE_EMULATOR_HOST or settings.FIRESTORE_ENABLED)


def firestore_client() -> firestore.Client:
    """The process's client for the configured Firestore (it keeps one gRPC channel open).

    Note: the library finds the emulator through the FIRESTORE_EMULATOR_HOST environment variable itself (and
    then speaks plaintext gRPC); the setting of the same name only decides that Firestore is configured.
    """
    return _client_for(settings.FIRESTORE_EMULATOR_HOST, settings.FIRESTORE_PROJECT, settings.FIRESTORE_DATABASE)


@lru_cache(maxsize=4)
def _client_for(emulator_host: str, project: str, database: str) -> firestore.Client:
    if emulator_host:
        return firestore.Client(project=project, credentials=AnonymousCredentials(), database=database)
    return firestore.Client(project=project or None, database=database)


def firestore_retry() -> Retry:
    """Retries transient errors (UNAVAILABLE, …) within FIRESTORE_TIMEOUT_SECONDS in all, not the library's 60 s+."""
    return Retry(predicate=if_transient_error, initial=0.2, maximum=2.0, multiplier=2.0,
                 timeout=settings.FIRESTORE_TIMEOUT_SECONDS)
