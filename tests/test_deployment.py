"""The Docker image, the compose file and the monitoring stack's files, read as Docker and Prometheus would
(this machine has no Docker engine to run them)."""

import json
import re

import pytest
import yaml

from ecore import metrics
from tests.worker import ROOT

MONITORING = {"prometheus", "grafana", "flower"}
CORE = {"postgres", "redis", "firestore", "meilisearch", "web", "worker", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def healthcheck_command(service: dict) -> str:
    return " ".join(service["healthcheck"]["test"])


def test_the_image_runs_with_debug_off_and_checks_its_liveness():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^\s+DEBUG=false \\$", dockerfile, re.MULTILINE)
    healthcheck = next(line for line in dockerfile.splitlines() if line.strip().startswith("CMD [\"python\""))
    assert "http://127.0.0.1:8000/healthz" in healthcheck
    assert "python:ecore.gunicorn_conf" in dockerfile


def test_the_core_services_start_without_a_profile_and_the_monitoring_ones_with_it(compose):
    services = compose["services"]
    assert set(services) == CORE | MONITORING
    assert all("profiles" not in services[name] for name in CORE)
    assert all(services[name]["profiles"] == ["monitoring"] for name in MONITORING)


def test_the_web_is_healthy_by_its_liveness_endpoint_and_the_worker_by_its_metrics_endpoint(compose):
    services = compose["services"]
    assert "http://127.0.0.1:8000/healthz" in healthcheck_command(services["web"])
    assert "python:ecore.gunicorn_conf" in " ".join(services["web"]["command"])
    worker_port = services["worker"]["environment"]["METRICS_PORT"]
    assert f"http://127.0.0.1:{worker_port}/metrics" in healthcheck_command(services["worker"])
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert services["worker"]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_prometheus_scrapes_the_web_with_the_token_and_every_worker_on_its_metrics_port(compose):
    services = compose["services"]
    config = yaml.safe_load((ROOT / "ecore/ops/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["ecore-web"]["static_configs"] == [{"targets": ["web:8000"]}]
    assert "web" in services["web"]["environment"]["ALLOWED_HOSTS"]  # the Host header Prometheus sends
    assert jobs["ecore-web"]["authorization"]["credentials_file"] in " ".join(services["prometheus"]["command"])
    assert "METRICS_TOKEN" in services["prometheus"]["environment"]
    assert "METRICS_TOKEN" in services["web"]["environment"]
    worker_discovery, = jobs["ecore-worker"]["dns_sd_configs"]
    assert worker_discovery["names"] == ["worker"]
    assert str(worker_discovery["port"]) == services["worker"]["environment"]["METRICS_PORT"]
    assert services["worker"]["environment"]["METRICS_ADDR"] == "0.0.0.0"


def test_every_file_the_monitoring_services_mount_is_in_the_repository(compose):
    for name in MONITORING:
        for volume in compose["services"][name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"


def test_grafana_is_provisioned_with_the_prometheus_data_source_and_the_dashboard(compose):
    provisioning = ROOT / "ecore/ops/grafana/provisioning"
    source, = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    provider, = yaml.safe_load((provisioning / "dashboards/ecore.yml").read_text())["providers"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    assert "/var/lib/grafana/dashboards" in " ".join(compose["services"]["grafana"]["volumes"])
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((ROOT / "ecore/ops/grafana/dashboards/ecore.json").read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert dashboard["uid"] == "ecore" and len(panels) >= 12
    assert all(panel["datasource"]["uid"] == source["uid"] for panel in panels)


def exported_names() -> set[str]:
    """Every series name eCore exports: each metric's samples (_total, _bucket, _count, _sum) and the queue."""
    names = {metrics.CeleryQueueLengthCollector.NAME}
    for value in vars(metrics).values():
        if hasattr(value, "_type") and hasattr(value, "_name"):
            family, = value.describe()
            names |= {family.name + suffix for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    return names


def test_the_dashboard_queries_only_metrics_eCore_exports_and_shows_each_of_them():
    dashboard = (ROOT / "ecore/ops/grafana/dashboards/ecore.json").read_text()
    queried = set(re.findall(r"ecore_[a-z_]+", " ".join(
        target["expr"] for panel in json.loads(dashboard)["panels"] for target in panel.get("targets", []))))
    assert queried <= exported_names()
    for name in ("ecore_jobs_submitted_total", "ecore_jobs_finished_total", "ecore_job_rows_total",
                 "ecore_stage_seconds_bucket", "ecore_source_rows_filled_total", "ecore_credits_charged_total",
                 "ecore_credits_refunded_total", "ecore_provider_requests_total", "ecore_webhook_deliveries_total",
                 "ecore_rate_limited_total", "ecore_http_requests_total", "ecore_http_request_duration_seconds_bucket",
                 "ecore_celery_queue_length"):
        assert name in queried, name


def test_the_readme_documents_every_setting_the_operators_sections_added():
    readme = (ROOT / "README.md").read_text()
    for name in ("READINESS_TIMEOUT_SECONDS", "METRICS_TOKEN", "METRICS_ALLOWED_NETWORKS", "METRICS_PORT",
                 "METRICS_ADDR", "PROMETHEUS_MULTIPROC_DIR", "LOG_FORMAT", "LOG_LEVEL", "SENTRY_DSN",
                 "SENTRY_ENVIRONMENT", "SENTRY_TRACES_SAMPLE_RATE"):
        assert f"`{name}`" in readme, name

