"""Settings helpers refuse bad values at start-up instead of guessing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from aiops_site import settings as site_settings


@pytest.mark.parametrize("raw, expected", [("true", True), ("0", False), ("", False)])
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("AIOPS_FLAG", raw)
    assert site_settings.env_bool("AIOPS_FLAG", False) is expected


def test_env_bool_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        site_settings.env_bool("DEBUG", False)


def test_env_int_refuses_words_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        site_settings.env_int("PORT", 8000)
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        site_settings.env_int("PORT", 8000, minimum=1)


def test_env_choice_refuses_unknown_log_level(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL"):
        site_settings.env_choice("LOG_LEVEL", "INFO", {"INFO", "DEBUG"})


def test_redis_url_must_be_a_redis_url():
    with pytest.raises(ImproperlyConfigured, match="must start with redis://"):
        site_settings._with_redis_db("http://127.0.0.1:6379", 0)


def test_tests_use_their_own_redis_database(settings):
    assert settings.REDIS_URL.endswith(f"/{settings.REDIS_TEST_DB}")


def test_the_migrate_url_must_name_the_app_s_database():
    import subprocess
    import sys

    from tests.support import process_env

    env = {**process_env(), "DATABASE_URL": "postgresql://aiops_app@db.invalid/aiops",
           "DATABASE_MIGRATE_URL": "postgresql://aiops_owner@db.invalid/elsewhere"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", "import aiops_site.settings"],
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    assert result.returncode != 0
    assert "DATABASE_MIGRATE_URL must name DATABASE_URL's database" in result.stderr
