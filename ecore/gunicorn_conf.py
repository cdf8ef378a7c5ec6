"""gunicorn's configuration for eCore's web: `gunicorn -c python:ecore.gunicorn_conf ecore.wsgi`.

Workers (WEB_CONCURRENCY) and the bind address come from the command line or gunicorn's own variables; this
sets up Prometheus' multiprocess mode for the workers (ecore/metrics.py) and gunicorn's own log lines.
"""

import os
import shutil
import tempfile

from ecore.env import Env
from ecore.logs import log_settings, logging_config

_env = Env()
# gunicorn's own lines (booting, a worker's exit or timeout) as the application writes its lines (ecore/logs.py).
# No access log: each request's `request_finished` line (ecore.middleware.RequestLogMiddleware) says more.
logconfig_dict = logging_config(*log_settings(_env, debug=_env.bool("DEBUG", default=True)), loggers={
    "gunicorn.error": {"level": "INFO", "propagate": True},
    "gunicorn.access": {"level": "WARNING", "propagate": True},
})

# The workers' metrics directory. It must be in the environment before a worker imports prometheus_client:
# set here, in the master, which does not load the application, and inherited by every worker it forks.
# Without one from the environment, a directory of this server's own, removed as it exits.
_OWN_METRICS_DIR = "" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else tempfile.mkdtemp(prefix="ecore-web-metrics-")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _OWN_METRICS_DIR


def on_starting(server):
    """Before any worker: drop the samples of a previous run's processes."""
    from ecore.metrics import metrics_dir_clean

    metrics_dir_clean()


def child_exit(server, worker):
    """A worker ended (recycled, killed, timed out): its live gauges leave the totals, its counters stay."""
    from ecore.metrics import process_dead

    process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
