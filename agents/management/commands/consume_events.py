"""Run one consumer-group member on the mesh with a handler given by dotted path.

The agents run on Celery (their own runtime); this command is the bare mesh loop, for
backfills, ad-hoc processing, tests and the benchmarks. Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from agents.events import stream_name
from agents.mesh import StreamConsumer


class Command(BaseCommand):
    help = "Consume event types through a consumer group and hand batches to a handler."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--group", required=True)
        parser.add_argument("--types", required=True, help="Comma-separated event types.")
        parser.add_argument("--handler", required=True, help="Dotted path to a batch handler.")
        parser.add_argument("--consumer", default=None)
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--claim-idle-ms", type=int, default=None)
        parser.add_argument("--max-deliveries", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        consumer = StreamConsumer(
            options["group"],
            [stream_name(t.strip()) for t in options["types"].split(",") if t.strip()],
            import_string(options["handler"]),
            consumer=options["consumer"],
            batch_size=options["batch_size"],
            claim_idle_ms=options["claim_idle_ms"],
            max_deliveries=options["max_deliveries"],
        )
        self.stdout.write(f"consuming {consumer.streams} as {consumer.group}/{consumer.consumer}")
        handled = consumer.run(lambda: stopping, block_ms=200)
        self.stdout.write(f"stopped after {handled} events")
