"""``manage.py create_token --service NAME [--name NAME] [--scope SCOPE ...]``.

Prints the new token once on stdout (nothing else there, so it can be captured in a script);
only its hash is stored.
"""

from __future__ import annotations

from typing import Any, get_args

from django.core.management.base import BaseCommand, CommandParser

from agents.ingest.tokens import Scope
from agents.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token for a service and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--service", required=True, help="service the token publishes as")
        parser.add_argument("--name", default="", help="what the token is for (default: cli)")
        parser.add_argument(
            "--scope",
            action="append",
            choices=get_args(Scope),
            dest="scopes",
            help="limit the token to an endpoint family (repeatable; default: all)",
        )

    def handle(
        self, *args: Any, service: str, name: str, scopes: list[str] | None, **options: Any
    ) -> None:
        token, plaintext = ApiToken.issue(name or "cli", service, scopes=scopes)
        self.stderr.write(
            f"Issued token {token.prefix}… for service {service!r}; it is shown only once."
        )
        self.stdout.write(plaintext)
