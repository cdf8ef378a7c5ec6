import os

import structlog
from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecore.settings")

app = Celery("ecore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The message header that carries the enqueuing request's log context (ecore/logs.py) to the task.
LOG_CONTEXT_HEADER = "ecore_log_context"


@signals.setup_logging.connect
def _logging_as_configured(**kwargs) -> None:
    """Celery would replace the handlers with its own plain-text ones: the worker logs as the web does."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def _log_context_send(headers, **kwargs) -> None:
    from ecore.logs import propagated_context

    headers[LOG_CONTEXT_HEADER] = propagated_context()


@signals.task_prerun.connect
def _log_context_bind(task_id, task, **kwargs) -> None:
    """Each task's lines carry its id and the context that enqueued it; nothing of the previous task's."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=task.name,
                                           **(getattr(task.request, LOG_CONTEXT_HEADER, None) or {}))


@signals.task_postrun.connect
def _log_context_clear(**kwargs) -> None:
    structlog.contextvars.clear_contextvars()


@signals.worker_init.connect
def _worker_metrics_serve(**kwargs) -> None:
    """In the worker's main process, before its pool starts: drop the samples of a previous run's processes
    and, when METRICS_PORT is set, serve what every pool process writes (ecore/metrics.py)."""
    from django.conf import settings
    from prometheus_client import start_http_server

    from ecore.metrics import metrics_dir_clean, process_registry

    metrics_dir_clean()
    if settings.METRICS_PORT:
        start_http_server(settings.METRICS_PORT, addr=settings.METRICS_ADDR, registry=process_registry())


@signals.worker_process_shutdown.connect
def _worker_process_gone(pid, **kwargs) -> None:
    from ecore.metrics import process_dead

    process_dead(pid)


@signals.worker_init.connect
def _lookups_bounded(**kwargs) -> None:
    # Imported here: this module is loaded before Django's settings are.
    from sources.sql import lookup_statement_timeout_enable

    lookup_statement_timeout_enable()
