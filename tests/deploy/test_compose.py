"""compose.yaml and the Dockerfile against the Procfile and the settings (no docker here, so
no drift instead): the same commands `make run` starts, environment the settings read, the
plan's Redis persistence with noeviction, the dashboards and rules provisioned."""

from __future__ import annotations

import json
import re
import shlex
import string
from pathlib import Path

import pytest
import yaml

from aiops_site.management.commands.run_stack import SEED_COMMANDS
from aiops_site.stack import process_table

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
APP_SERVICES = ("web", "worker", "beat")
PYTHON_ONLY_ENV = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
                   "PIP_DISABLE_PIP_VERSION_CHECK"}  # fmt: skip


def dockerfile_env() -> dict[str, str]:
    block = re.search(r"^ENV (.+?)(?=^\S)", DOCKERFILE, re.S | re.M).group(1)
    return dict(pair.split("=", 1) for pair in shlex.split(block.replace("\\\n", " ")))


def procfile_argv(name: str) -> list[str]:
    """The Procfile line as run_stack would run it inside the image."""
    env = dockerfile_env()
    values = {"PYTHON": "python", "HOST": "0.0.0.0", "PORT": env["PORT"],  # noqa: S104 (in a container)
              "AIOPS_VAR_DIR": env["AIOPS_VAR_DIR"]}  # fmt: skip
    return shlex.split(string.Template(process_table()[name]).substitute(values))


def settings_variables() -> set[str]:
    """Every environment variable aiops_site/settings.py reads, plus the libraries' own."""
    source = (ROOT / "aiops_site" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list|choice)\(\s*"([A-Z0-9_]+)"', source))
    return names | {"PROMETHEUS_MULTIPROC_DIR", "DJANGO_SETTINGS_MODULE"}


def mounts(service: str) -> dict[str, str]:
    return {v.split(":")[0]: v.split(":")[1] for v in SERVICES[service]["volumes"]}


def read_yaml(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_service_runs_its_procfile_command(name):
    assert SERVICES[name]["command"] == procfile_argv(name)


def test_the_image_s_default_command_is_the_web_process():
    cmd = json.loads(re.search(r"^CMD (\[.+\])$", DOCKERFILE, re.M).group(1))

    assert cmd == procfile_argv("web")


def test_every_variable_set_is_one_the_settings_read():
    known = settings_variables()
    for name in (*APP_SERVICES, "setup"):
        assert set(SERVICES[name]["environment"]) <= known, name
    assert set(dockerfile_env()) - PYTHON_ONLY_ENV <= known


def test_app_services_point_at_the_compose_servers_and_the_schema():
    for name in (*APP_SERVICES, "setup"):
        env = SERVICES[name]["environment"]
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert env["AIOPS_DB_SCHEMA"] == "${AIOPS_DB_SCHEMA:-ai_ops}"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, never defaulted
    # The database's init script creates the same schema (tests/deploy/test_postgres_roles.py
    # runs it for real).
    assert SERVICES["postgres"]["environment"]["AIOPS_DB_SCHEMA"] == "${AIOPS_DB_SCHEMA:-ai_ops}"
    assert (
        'CREATE SCHEMA IF NOT EXISTS :"schema"' in (ROOT / "deploy/postgres/roles.sh").read_text()
    )


def test_setup_migrates_and_seeds_what_make_run_seeds_before_the_app_starts():
    command = SERVICES["setup"]["command"][-1]

    assert command.startswith("python manage.py migrate")
    for seed in SEED_COMMANDS:
        assert f"python manage.py {seed}" in command
    for name in APP_SERVICES:
        assert SERVICES[name]["depends_on"]["setup"]["condition"] == (
            "service_completed_successfully"
        )


def test_redis_persists_like_the_plan_and_never_evicts():
    command = " ".join(SERVICES["redis"]["command"])

    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert "--maxmemory-policy noeviction" in command


def test_postgres_has_pgvector_and_workers_can_scale():
    worker = SERVICES["worker"]

    assert SERVICES["postgres"]["image"].startswith("pgvector/pgvector:")
    # --scale needs no fixed container name or host port, and a host-unique Celery name.
    assert "container_name" not in worker and "ports" not in worker
    assert "%h" in worker["command"][worker["command"].index("--hostname") + 1]
    assert mounts("worker")["metrics"] == worker["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert mounts("web")["metrics"] == worker["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def test_prometheus_and_grafana_get_the_rules_and_dashboards():
    config = read_yaml("deploy/prometheus/prometheus.yml")
    assert mounts("prometheus")["./deploy/prometheus/rules.yml"] in config["rule_files"]
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["web:8000"]
    provider = read_yaml("deploy/grafana/provisioning/dashboards/aiops.yml")["providers"][0]
    assert mounts("grafana")["./deploy/grafana/dashboards"] == provider["options"]["path"]
    source = read_yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/aiops-overview.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}


def test_the_image_runs_as_a_non_root_user_with_a_health_check():
    assert re.search(r"^USER aiops$", DOCKERFILE, re.M)
    assert "/health" in re.search(r"^HEALTHCHECK .+?(?=^\S)", DOCKERFILE, re.S | re.M).group(0)
    assert "collectstatic" in DOCKERFILE
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.M)
