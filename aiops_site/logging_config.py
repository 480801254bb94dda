"""The logging configuration: structured (JSON) lines by default, to standard error; under
`make run` supervisord sends each process's stream to var/log/<process>.log."""

from __future__ import annotations

from typing import Any


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """``LOGGING`` for a level (``LOG_LEVEL``) and a format (``LOG_FORMAT``: json or text)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
            "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt.lower()},
            # Counts error records into ai_ops_errors (aiops_site/telemetry.py); prints nothing.
            "error_metric": {"()": "aiops_site.telemetry.ErrorCountingHandler"},
        },
        "root": {"handlers": ["console", "error_metric"], "level": level.upper()},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "pgserver": {"level": "WARNING"},
            # drain3 logs every miner it builds at INFO; fingerprinting builds one per reload.
            "drain3": {"level": "WARNING"},
        },
    }
