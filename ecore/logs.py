"""Structured logs: one JSON line per event, or readable lines on a developer's terminal.

Every line goes through the standard library's logging, so Django's, Celery's, gunicorn's and eCore's own
`logging.getLogger(__name__)` lines carry the same fields as structlog's events: the context variables bound
for the request (`request_id`, `user_id`, `job_id` once a job is known) or for the Celery task (`task_id`,
`job_id`, and the `request_id` of the request that enqueued it). `ecore.middleware.RequestLogMiddleware`,
`tokens.authentication` and `ecore.celery` bind them.
"""

import sys

import structlog
from django.core.exceptions import ImproperlyConfigured

LOG_FORMATS = ("json", "console")
# Libraries whose INFO lines are noise: httpx logs every request the providers and webhooks send. The Snowflake
# connector also rewrites its errors' messages when its logger is at INFO ("250001: 250001: Could not connect"),
# and a stage's failure shows that message on the status endpoint.
QUIET_LOGGERS = ("httpx", "httpcore", "snowflake.connector")
# What the task's message carries of the context that enqueued it.
PROPAGATED_CONTEXT = ("request_id", "user_id", "job_id")


def log_settings(env, *, debug: bool) -> tuple[str, str]:
    """(LOG_FORMAT, LOG_LEVEL) from the environment; the format is console only for DEBUG on a terminal."""
    log_format = env.str("LOG_FORMAT", default="console" if debug and sys.stderr.isatty() else "json").lower()
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT={log_format!r}: use one of {', '.join(LOG_FORMATS)}")
    return log_format, env.str("LOG_LEVEL", default="INFO").upper()


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def structlog_configure() -> None:
    """structlog's loggers hand their events to the standard library's, which the formatter below renders."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def logging_config(log_format: str, level: str, *, loggers: dict | None = None) -> dict:
    """The `LOGGING` dictionary: one handler on stderr rendering every record as `log_format`."""
    if log_format == "json":
        renderers = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderers = [structlog.dev.ConsoleRenderer()]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
            # For records from the standard library's loggers, which did not pass through structlog.
            "foreign_pre_chain": [*_shared_processors(), structlog.stdlib.ExtraAdder()],
        }},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Without handlers of their own: Django's defaults print a second, plain copy of their lines.
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
            **(loggers or {}),
        },
    }


def propagated_context() -> dict:
    """The context a task enqueued now takes along to its worker."""
    context = structlog.contextvars.get_contextvars()
    return {name: context[name] for name in PROPAGATED_CONTEXT if name in context}
