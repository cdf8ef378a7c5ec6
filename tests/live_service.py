"""The real service for end-to-end client tests: gunicorn serving the test database, and a Celery worker."""

import socket
import subprocess
import sys
import time

import httpx

from tests.worker import ROOT, Worker, worker_env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    """gunicorn on a free port (two workers unless told); the test's data is visible when the test's
    database is transactional (`django_db(transaction=True)`)."""

    def __init__(self, log_dir, *, workers: int = 2, **env_overrides):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "gunicorn.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:ecore.gunicorn_conf", "ecore.wsgi", "--workers", str(workers),
             "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "2"],
            cwd=ROOT, env=worker_env(**env_overrides), stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_answering()

    def _wait_until_answering(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class LiveService:
    """A web server and one worker; `stop` ends both."""

    def __init__(self, log_dir, **env_overrides):
        self.worker = Worker("client-worker", log_dir, **env_overrides)
        self.web = WebServer(log_dir, **env_overrides)
        self.url = self.web.url

    def stop(self) -> None:
        self.web.stop()
        self.worker.stop()
