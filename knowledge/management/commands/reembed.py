"""Rebuild problem embeddings with the configured provider (after changing EMBEDDING_PROVIDER)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from knowledge import embeddings, services
from knowledge.models import Problem


class Command(BaseCommand):
    help = "Recompute problem embeddings; by default only those made by another provider."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="Re-embed every problem.")
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        provider = embeddings.get_provider()
        problems = Problem.objects.order_by("pk")
        if not options["all"]:
            problems = problems.exclude(embedding_provider=provider.name, embedding__isnull=False)
        total = problems.count()
        rows = tqdm(
            problems.iterator(chunk_size=options["batch_size"]),
            total=total,
            desc=f"re-embedding with {provider.name}",
            unit="problem",
            disable=options["no_progress"],
        )
        done = services.embed_problems(rows, batch_size=options["batch_size"])
        self.stdout.write(self.style.SUCCESS(f"Re-embedded {done} problems with {provider.name}."))
