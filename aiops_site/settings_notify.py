"""Notification settings, from the environment (star-imported at the end of settings.py).

Nothing is sent until a destination is set: ``NOTIFY_SLACK_WEBHOOK_URL`` (a Slack, or
Slack-compatible such as Mattermost or Rocket.Chat, incoming webhook) and/or
``NOTIFY_EMAIL_TO`` (comma-separated; sent through Django's mail backend, ``EMAIL_*``).
Incidents below ``NOTIFY_MIN_SEVERITY`` are not announced; each channel may raise or lower
that bar on its own (``NOTIFY_SLACK_MIN_SEVERITY``, ``NOTIFY_EMAIL_MIN_SEVERITY``).
``AIOPS_BASE_URL`` makes the links to incident pages absolute.
"""

from __future__ import annotations

from aiops_site.env import env_bool, env_choice, env_int, env_list, env_str

_SEVERITIES = {"info", "warning", "error", "critical"}

AIOPS_BASE_URL = env_str("AIOPS_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
NOTIFY_MIN_SEVERITY = env_choice("NOTIFY_MIN_SEVERITY", "warning", _SEVERITIES).lower()
NOTIFY_SLACK_WEBHOOK_URL = env_str("NOTIFY_SLACK_WEBHOOK_URL")
NOTIFY_SLACK_MIN_SEVERITY = env_choice(
    "NOTIFY_SLACK_MIN_SEVERITY", NOTIFY_MIN_SEVERITY, _SEVERITIES
).lower()
NOTIFY_EMAIL_TO = env_list("NOTIFY_EMAIL_TO", "")
NOTIFY_EMAIL_MIN_SEVERITY = env_choice(
    "NOTIFY_EMAIL_MIN_SEVERITY", NOTIFY_MIN_SEVERITY, _SEVERITIES
).lower()
NOTIFY_TIMEOUT_SECONDS = env_int("NOTIFY_TIMEOUT_SECONDS", 5, minimum=1)

# Django's mail backend (SMTP unless EMAIL_BACKEND says otherwise).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = NOTIFY_TIMEOUT_SECONDS
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ai-ops@localhost")
