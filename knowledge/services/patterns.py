"""Patterns: learned or curated regularities, versioned append-only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F

from knowledge.models import (
    Pattern,
    PatternVersion,
    Problem,
    Solution,
)

# --- Patterns -----------------------------------------------------------------------------------


@transaction.atomic
def save_pattern_version(
    pattern: Pattern, user: AbstractBaseUser | None = None, reason: str = ""
) -> PatternVersion:
    """Record the pattern's current content as its next version (append-only)."""
    locked = Pattern.objects.select_for_update().get(pk=pattern.pk)
    last = locked.versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = PatternVersion.objects.create(
        pattern=locked,
        version=last + 1,
        snapshot=locked.snapshot(),
        created_by=user if user is not None and user.is_authenticated else None,
        reason=reason[:300],
    )
    Pattern.objects.filter(pk=locked.pk).update(version=version.version)
    pattern.version = version.version
    return version


@transaction.atomic
def rollback_pattern(
    pattern: Pattern, version: int, user: AbstractBaseUser | None = None
) -> PatternVersion:
    """Restore the content of ``version`` as a new version; history is never rewritten."""
    old = PatternVersion.objects.get(pattern=pattern, version=version)
    locked = Pattern.objects.select_for_update().get(pk=pattern.pk)
    locked.apply_snapshot(old.snapshot)
    new = save_pattern_version(locked, user, f"rollback to v{version}")
    pattern.refresh_from_db()
    return new


@transaction.atomic
def set_pattern_flags(
    patterns: Iterable[Pattern],
    *,
    user: AbstractBaseUser | None = None,
    validated: bool | None = None,
    retired: bool | None = None,
) -> int:
    """Validate or retire patterns (admin actions); each change is a new version."""
    changed = 0
    for pattern in patterns:
        updates = {
            name: value
            for name, value in (("validated", validated), ("retired", retired))
            if value is not None and getattr(pattern, name) != value
        }
        if not updates:
            continue
        for name, value in updates.items():
            setattr(pattern, name, value)
        pattern.save(update_fields=[*updates, "updated_at"])
        reason = ", ".join(f"{name}={value}" for name, value in updates.items())
        save_pattern_version(pattern, user, reason)
        changed += 1
    return changed


def record_pattern_match(pattern: Pattern, confirmed: bool) -> Pattern:
    """Count a match later judged right or wrong (feeds :attr:`Pattern.accuracy`)."""
    field = "matches_confirmed" if confirmed else "matches_refuted"
    Pattern.objects.filter(pk=pattern.pk).update(**{field: F(field) + 1})
    pattern.refresh_from_db()
    return pattern


CONFIDENCE_STEP = 0.05


@transaction.atomic
def upsert_pattern(
    name: str,
    kind: str,
    *,
    matcher: dict[str, Any],
    confidence: float,
    description: str = "",
    problems: list[Problem] | None = None,
    solutions: list[Solution] | None = None,
) -> Pattern:
    """Create or update a learned pattern; a new version only when its content moved.

    A retired pattern is left alone: a curator said no, and learning must not overrule it.
    """
    pattern, created = Pattern.objects.select_for_update().get_or_create(
        name=name[:200],
        defaults={"kind": kind, "matcher": matcher, "confidence": confidence,
                  "description": description},
    )  # fmt: skip
    if pattern.retired:
        return pattern
    changed = created
    if not created and (
        pattern.matcher != matcher or abs(pattern.confidence - confidence) >= CONFIDENCE_STEP
    ):
        pattern.matcher, pattern.confidence, pattern.description = matcher, confidence, description
        pattern.save(update_fields=["matcher", "confidence", "description", "updated_at"])
        changed = True
    if problems:
        pattern.problems.add(*problems)
    if solutions:
        pattern.solutions.add(*solutions)
    if changed:
        save_pattern_version(pattern, reason="learned" if created else "relearned")
    return pattern
