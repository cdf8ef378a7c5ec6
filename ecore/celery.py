import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecore.settings")

app = Celery("ecore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
