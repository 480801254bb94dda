"""How the import worker parses one export, given the world's state: paused imports, a
worker near its memory limit, malformed HTML, batches that outlast the time limit, and a
missing duplicate check. Failed jobs wait in the world's retry queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.deployment import (
    BATCH_TIME_LIMIT_S,
    ITEM_COST_MS,
    MEMORY_LIMIT_MB,
    MEMORY_WARN_FRACTION,
    ImportJob,
    Outcome,
    instance_of,
)

if TYPE_CHECKING:  # the world composes these models; they read its state
    from simulator.world import World

#: The exception class an import failure reports, by root cause.
ERROR_TYPES = {
    "import_timeout": "SoftTimeLimitExceeded",
    "high_memory_usage": "WorkerLostError",
    "import_parse_error": "HTMLParseError",
}


class ImportParsing:
    """One export parsed in batches: the outcome the import worker reports."""

    def __init__(self, world: World) -> None:
        self.world = world

    def run(self, job: ImportJob, now: float) -> Outcome:
        w = self.world
        job.attempts += 1
        w.imports_run += 1
        worker = instance_of("import-worker")
        batch = min(w.batch_size, max(1, job.bookmark_count))
        duration_ms = job.bookmark_count * ITEM_COST_MS.get(job.source, 3.0) + 50
        outcome = Outcome(latency_ms=duration_ms, details={"batch_size": batch})
        if not w.flags["imports_enabled"]:
            outcome.status = 503
            return outcome
        if w.memory_mb[worker] >= MEMORY_LIMIT_MB * MEMORY_WARN_FRACTION:
            return self._failed(
                job, now, "high_memory_usage",
                f"Container {worker} was OOMKilled (exit code 137) while running "
                f"import_bookmarks[{job.source}] for import {job.import_id}",
            )  # fmt: skip
        novel = w.novel.import_failure(job)
        if novel is not None:
            signal, error_type, text = novel
            outcome = self._failed(job, now, signal, text)
            outcome.details["error_type"] = error_type
            return outcome
        if job.malformed and job.source == "html" and not w.flags["lenient_html_import"]:
            line = w.random.randint(80, 4000)
            return self._failed(
                job, now, "import_parse_error",
                f"HTMLParseError: unexpected end tag </DL> at line {line}, column 9 in "
                f"bookmarks.html (import {job.import_id})",
            )  # fmt: skip
        batch_seconds = batch * ITEM_COST_MS.get(job.source, 3.0) / 1000
        if batch_seconds > BATCH_TIME_LIMIT_S:
            return self._failed(
                job, now, "import_timeout",
                f"Import job {job.import_id} timed out after {BATCH_TIME_LIMIT_S:.0f}s "
                f"while processing {job.source} bookmarks ({job.bookmark_count} items, "
                f"batch size {batch})",
            )  # fmt: skip
        w.failed_imports.pop(job.import_id, None)
        duplicates = 0
        if w.duplicate_imports and not w.flags["dedupe_on_import"]:
            duplicates = max(1, job.bookmark_count // 12)
            w.signal_log.record("import-worker", "duplicate_bookmarks", now)
            outcome.errors.append((
                "import-worker", "duplicate_bookmarks",
                f"IntegrityError: duplicate key value violates unique constraint "
                f'"bookmarks_bookmark_user_id_url_key" (import {job.import_id}, '
                f"{duplicates} duplicates)",
            ))  # fmt: skip
        outcome.details.update(imported=job.bookmark_count - duplicates, duplicates=duplicates)
        return outcome

    def _failed(self, job: ImportJob, now: float, signal: str, text: str) -> Outcome:
        w = self.world
        w.failed_imports[job.import_id] = job
        outcome = w.signal_log.error(
            "import-worker", signal, now, status=500, latency_ms=0.0, text=text
        )
        error_type = ERROR_TYPES.get(signal, "ImportError")
        outcome.details.update(error=text, error_type=error_type, batch_size=min(
            w.batch_size, max(1, job.bookmark_count)))  # fmt: skip
        return outcome

    def take_retries(self, import_id: str = "") -> list[ImportJob]:
        """Failed jobs leave the queue to be retried: one by id, or all of them."""
        failed = self.world.failed_imports
        if import_id:
            job = failed.pop(import_id, None)
            return [job] if job else []
        jobs = list(failed.values())
        failed.clear()
        return jobs
