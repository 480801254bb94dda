# AI-Ops Core: one image for web, worker and beat (compose.yaml picks the command).
# The commands are the Procfile's, as `make run` starts them (tests/deploy/test_compose.py).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=aiops_site.settings \
    AIOPS_VAR_DIR=/app/var \
    PROMETHEUS_MULTIPROC_DIR=/app/var/prometheus \
    PORT=8000

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin aiops

# Dependencies first (from pyproject.toml, with empty packages), so a code change does not
# reinstall them; then the app itself over them, without touching the dependencies.
COPY pyproject.toml README.md ./
RUN mkdir aiops_site agents knowledge remediation \
    && touch aiops_site/__init__.py agents/__init__.py knowledge/__init__.py remediation/__init__.py \
    && pip install . && rm -rf aiops_site agents knowledge remediation build
COPY . .
RUN pip install --no-deps --force-reinstall . && rm -rf build
# Static files are collected at build time; URLs given so settings start no embedded server.
RUN DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
        SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input --verbosity 0 \
    && mkdir -p "$PROMETHEUS_MULTIPROC_DIR" \
    && chown -R aiops:aiops /app/var

USER aiops
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health', timeout=4)"
CMD ["python", "-m", "uvicorn", "aiops_site.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--lifespan", "off", "--ws", "websockets"]
