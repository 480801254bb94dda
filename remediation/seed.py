"""Seeding the remediation rules from ``remediation/fixtures/rules.json`` (idempotent:
existing rules, possibly edited by operators, are left as they are)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from remediation.actions import get_action
from remediation.models import Rule

RULES_PATH = Path(__file__).parent / "fixtures" / "rules.json"


def load_rules(path: Path = RULES_PATH) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["rules"]


def seed_rules(rules: list[dict[str, Any]] | None = None) -> dict[str, int]:
    created = kept = 0
    for spec in rules if rules is not None else load_rules():
        get_action(spec["action"])  # refuse a catalogue naming an unknown action
        _, was_created = Rule.objects.get_or_create(name=spec["name"], defaults=spec)
        created += was_created
        kept += not was_created
    return {"created": created, "kept": kept}
