# eCore application image: the Django API (gunicorn), the Celery worker and
# Celery beat all run from this image (see docker-compose.yml).
#
#   docker build -t ecore .
#   docker run --rm -e SECRET_KEY=... -e DATABASE_URL=... -e REDIS_URL=... -p 8000:8000 ecore
FROM python:3.11-slim

# PYTHONPATH: import the project from /app (not from site-packages) so that
# BASE_DIR, and with it STATIC_ROOT=/app/var/static, points into /app.
# DEBUG=false: the image is production's; settings then require SECRET_KEY (README, Configuration).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEBUG=false \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=ecore.settings \
    PYTHONPATH=/app

WORKDIR /app

# Unprivileged user the processes run as.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app

# Dependencies first, from pyproject.toml alone, so that this layer is reused
# as long as the dependency list does not change. (All of them ship wheels for
# linux/amd64 and arm64; psycopg[binary] brings its own libpq.)
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, then the static files for the admin and the API docs
# (settings need a SECRET_KEY when DEBUG is off; collectstatic touches neither
# the database nor Redis).
COPY . .
RUN pip install . \
    && SECRET_KEY=collectstatic-only DEBUG=false python manage.py collectstatic --noinput \
    && mkdir -p /app/var/run /app/var/log \
    && chown -R app:app /app/var

USER app

# Where each process of a container writes its metrics (ecore/metrics.py): every container has its own /tmp,
# and gunicorn and the Celery worker clean it as they start. Set only now, so that the build's collectstatic
# does not create it as root.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/ecore-metrics

EXPOSE 8000

# gunicorn reads its worker count from WEB_CONCURRENCY: two per core served the most single-record
# lookups on a 2-core machine (4 workers: about a fifth more than 2; 6: fewer, from contention).
ENV WEB_CONCURRENCY=4

# Liveness of the web process: /healthz touches no dependency (/readyz checks them; docker-compose.yml's web
# uses it). The worker and beat containers have no web server and override this in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# docker-compose.yml runs migrations before this; worker and beat override it.
# Logs go to stderr, one JSON line per event (ecore/logs.py); each request's line replaces gunicorn's access log.
CMD ["gunicorn", "-c", "python:ecore.gunicorn_conf", "ecore.wsgi:application", "--bind", "0.0.0.0:8000"]
