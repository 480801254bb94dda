"""What the learning agent learns, as plain functions over Redis tallies and the graph.

* the import batch size that succeeds most reliably at the best speed (Beta lower bound of
  the success rate, then bookmarks per second) → ``Recommendation("import.batch_size")``;
* peak usage by hour of week (from the monitor's series) → a temporal pattern;
* recurring problems (same hour of day on several days), problems that follow deploys,
  problems that co-occur (shared minute buckets) → patterns and ``correlates_with`` edges;
* solutions that keep working → solution-template patterns;
* users' categorisation habits (common tags and folders) → ``Recommendation``.

Every learned pattern is versioned when its content changes, so a curator can see how it
moved and roll it back.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from agents import mesh
from core.redis import get_redis
from knowledge import services
from knowledge.models import (
    Occurrence,
    Pattern,
    PatternKind,
    Problem,
    Recommendation,
    Relation,
    Solution,
    success_interval,
)

IMPORT_TALLY = "aiops:learning:imports"  # hash per batch size: ok, failed, bookmarks, seconds
TAGS_KEY = "aiops:learning:tags"
FOLDERS_KEY = "aiops:learning:folders"
MIN_IMPORTS_PER_SIZE = 5
RELIABLE_LOWER_BOUND = 0.9
LOOKBACK = timedelta(days=7)
RECURRING_MIN_DAYS = 3
COOCCURRENCE_MIN_SHARED = 3
COOCCURRENCE_MIN_JACCARD = 0.5
DEPLOY_WINDOW = timedelta(minutes=30)
PROVEN_MIN_RUNS = 5
PROVEN_LOWER_BOUND = 0.8


# --- Tallies written while handling events ---------------------------------------------------


def tally_events(events: list[Any]) -> None:
    """Fold import outcomes and bookmark habits into Redis (one round trip, any worker)."""
    pipe = get_redis().pipeline(transaction=False)
    for event in events:
        payload = event.payload
        if event.type in {"import.completed", "import.failed"} and payload.get("batch_size"):
            key = f"{IMPORT_TALLY}:{int(payload['batch_size'])}"
            if event.type == "import.completed":
                pipe.hincrby(key, "ok", 1)
                pipe.hincrby(key, "bookmarks", int(payload.get("imported", 0)))
                pipe.hincrbyfloat(key, "seconds", float(payload.get("duration_ms", 0)) / 1000)
            else:
                pipe.hincrby(key, "failed", 1)
            pipe.sadd(IMPORT_TALLY, int(payload["batch_size"]))
        elif event.type == "bookmark.created":
            for tag in payload.get("tags") or []:
                pipe.zincrby(TAGS_KEY, 1, str(tag)[:100])
            if payload.get("folder"):
                pipe.zincrby(FOLDERS_KEY, 1, str(payload["folder"])[:200])
    pipe.execute()


# --- Batch size ----------------------------------------------------------------------------


def batch_size_table() -> list[dict[str, Any]]:
    client = get_redis()
    rows = []
    for raw_size in client.smembers(IMPORT_TALLY):
        size = int(raw_size)
        tally = {k.decode(): float(v) for k, v in client.hgetall(f"{IMPORT_TALLY}:{size}").items()}
        ok, failed = int(tally.get("ok", 0)), int(tally.get("failed", 0))
        low, high = success_interval(ok, failed)
        seconds = tally.get("seconds", 0.0)
        rows.append(
            {
                "batch_size": size,
                "ok": ok,
                "failed": failed,
                "success_lower_bound": round(low, 3),
                "success_upper_bound": round(high, 3),
                "bookmarks_per_second": round(tally.get("bookmarks", 0) / seconds, 1)
                if seconds
                else 0.0,
            }
        )
    return sorted(rows, key=lambda r: r["batch_size"])


def learn_batch_size() -> Recommendation | None:
    """Fastest batch size among the reliable ones; else the most reliable one seen enough."""
    rows = [r for r in batch_size_table() if r["ok"] + r["failed"] >= MIN_IMPORTS_PER_SIZE]
    if not rows:
        return None
    reliable = [r for r in rows if r["success_lower_bound"] >= RELIABLE_LOWER_BOUND]
    if reliable:
        best = max(reliable, key=lambda r: (r["bookmarks_per_second"], r["success_lower_bound"]))
    else:
        best = max(rows, key=lambda r: (r["success_lower_bound"], r["bookmarks_per_second"]))
    recommendation, _ = Recommendation.objects.update_or_create(
        key="import.batch_size",
        defaults={
            "value": best["batch_size"],
            "confidence": best["success_lower_bound"],
            "evidence": {"table": rows, "rule": "fastest with success lower bound >= 0.9"},
        },
    )
    return recommendation


def recommended_batch_size(default: int) -> int:
    """What RetryWithSmallerBatch asks for: the learned size, or ``default`` before learning."""
    return int(Recommendation.value_of("import.batch_size", default))


# --- Habits and peaks ---------------------------------------------------------------------------


def learn_habits(top: int = 10) -> None:
    client = get_redis()
    for key, name in (
        (TAGS_KEY, "bookmarks.common_tags"),
        (FOLDERS_KEY, "bookmarks.common_folders"),
    ):
        ranked = client.zrevrange(key, 0, top - 1, withscores=True)
        if ranked:
            Recommendation.objects.update_or_create(
                key=name,
                defaults={
                    "value": [member.decode() for member, _ in ranked],
                    "confidence": 1.0,
                    "evidence": {member.decode(): int(score) for member, score in ranked},
                },
            )  # fmt: skip


def learn_peak_hours(by_hour: dict[tuple[int, int], float], top: int = 5) -> Pattern | None:
    """The hours of the week with the most activity, as a temporal pattern."""
    if len(by_hour) < 3:
        return None
    total = sum(by_hour.values()) or 1.0
    peaks = sorted(by_hour.items(), key=lambda item: -item[1])[:top]
    share = sum(value for _, value in peaks) / total
    return services.upsert_pattern(
        "peak usage hours",
        PatternKind.TEMPORAL,
        matcher={"hours_of_week": [[dow, hour] for (dow, hour), _ in peaks]},
        confidence=min(0.99, share * 2),
        description="Hours of the week (ISO weekday, UTC hour) with the most user activity.",
    )


# --- Problems over time --------------------------------------------------------------------------


def learn_recurring(now: datetime | None = None) -> list[Pattern]:
    """Problems seen at the same hour of day on several distinct days."""
    since = (now or timezone.now()) - LOOKBACK
    rows = (
        Occurrence.objects.filter(at__gte=since)
        .annotate(day=TruncDate("at"), hour=ExtractHour("at"))
        .values("problem", "hour")
        .annotate(days=Count("day", distinct=True))
        .filter(days__gte=RECURRING_MIN_DAYS)
    )
    patterns = []
    for row in rows:
        problem = Problem.objects.get(pk=row["problem"])
        pattern = services.upsert_pattern(
            f"{problem.fingerprint} recurs at {row['hour']:02d}:00 UTC",
            PatternKind.RECURRING,
            matcher={"problem": problem.fingerprint, "hour": row["hour"]},
            confidence=min(0.99, row["days"] / 7),
            problems=[problem],
            description=f"'{problem.title}' appeared around {row['hour']:02d}:00 UTC on "
            f"{row['days']} different days in the last week.",
        )
        patterns.append(pattern)
    return patterns


def _minute_sets(since: datetime) -> dict[int, set[datetime]]:
    minutes: dict[int, set[datetime]] = defaultdict(set)
    for problem_id, at in Occurrence.objects.filter(at__gte=since).values_list("problem", "at"):
        minutes[problem_id].add(at)
    return minutes


def learn_cooccurrence(now: datetime | None = None, limit: int = 50) -> list[Pattern]:
    """Pairs of problems whose minute buckets overlap a lot (Jaccard), linked both ways."""
    minutes = _minute_sets((now or timezone.now()) - timedelta(days=1))
    busiest = sorted(minutes, key=lambda pid: -len(minutes[pid]))[:limit]
    patterns = []
    for a, b in itertools.combinations(sorted(busiest), 2):
        shared = len(minutes[a] & minutes[b])
        if shared < COOCCURRENCE_MIN_SHARED:
            continue
        jaccard = shared / len(minutes[a] | minutes[b])
        if jaccard < COOCCURRENCE_MIN_JACCARD:
            continue
        first, second = Problem.objects.get(pk=a), Problem.objects.get(pk=b)
        services.link(first, Relation.CORRELATES_WITH, second, weight=jaccard)
        patterns.append(
            services.upsert_pattern(
                f"{first.fingerprint} with {second.fingerprint}",
                PatternKind.CO_OCCURRENCE,
                matcher={"problems": [first.fingerprint, second.fingerprint]},
                confidence=round(jaccard, 3),
                problems=[first, second],
                description=f"'{first.title}' and '{second.title}' share {shared} minutes.",
            )
        )
    return patterns


def learn_deploy_followers(now: datetime | None = None) -> list[Pattern]:
    """Problems first seen within DEPLOY_WINDOW after a deploy, counted over deploys."""
    since = (now or timezone.now()) - LOOKBACK
    deploys = [d.event for d in mesh.replay("deploy.finished", since=since)]
    if not deploys:
        return []
    followers: dict[int, int] = defaultdict(int)
    for deploy in deploys:
        window = (deploy.timestamp, deploy.timestamp + DEPLOY_WINDOW)
        for problem_id in set(
            Occurrence.objects.filter(at__range=window).values_list("problem", flat=True)
        ):
            followers[problem_id] += 1
    patterns = []
    for problem_id, hits in followers.items():
        if hits < 2:
            continue
        problem = Problem.objects.get(pk=problem_id)
        patterns.append(
            services.upsert_pattern(
                f"{problem.fingerprint} follows deploys",
                PatternKind.TEMPORAL,
                matcher={"problem": problem.fingerprint, "after": "deploy.finished",
                         "within_minutes": DEPLOY_WINDOW.total_seconds() / 60},
                confidence=round(hits / len(deploys), 3),
                problems=[problem],
                description=f"'{problem.title}' appeared after {hits} of {len(deploys)} deploys.",
            )
        )  # fmt: skip
    return patterns


def learn_proven_solutions() -> list[Pattern]:
    patterns = []
    for solution in Solution.objects.filter(success_lower_bound__gte=PROVEN_LOWER_BOUND):
        if solution.successes + solution.failures < PROVEN_MIN_RUNS:
            continue
        patterns.append(
            services.upsert_pattern(
                f"proven fix: {solution.title}"[:200],
                PatternKind.SOLUTION_TEMPLATE,
                matcher={"action": solution.action, "parameters": solution.parameters},
                confidence=round(solution.success_lower_bound, 3),
                solutions=[solution],
                problems=[solution.problem] if solution.problem_id else [],
                description=f"Worked {solution.success_label}.",
            )
        )
    return patterns
