"""``manage.py narrate --url BASE``: print one line per incident opened, reopened or resolved
and per fix awaiting approval (``make run`` shows only this; see aiops_site/narration.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand

from aiops_site.narration import follow, line

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Print a line per incident opened/resolved and per approval needed."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="dashboard base URL")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        base = url.rstrip("/")
        try:
            for event in follow():
                try:
                    self.stdout.write(line(event, base))
                except Exception:  # one odd event must not silence the rest
                    logger.exception("could not narrate %s", event.type)
                self.stdout.flush()
        except KeyboardInterrupt:
            pass
