"""Error reporting: Sentry, with its Django and Celery integrations, when SENTRY_DSN is set; nothing otherwise."""


def sentry_setup(*, dsn: str, environment: str, release: str = "", traces_sample_rate: float = 0.0) -> bool:
    """Starts the Sentry client for this process (web or worker) when there is a DSN; True when it did."""
    if not dsn:
        return False
    # Imported here: without a DSN the library is never loaded.
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # Submitted rows and lookups are customers' contacts (names, emails, phones): none of them may leave with
        # an error report, as a request body, a user's details or a frame's local variables.
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
    )
    return True
