"""Occurrences: per-minute buckets of a problem's sightings on one service instance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from knowledge.models import OCCURRENCE_EVENT_IDS_CAP, Occurrence

_UPSERT_OCCURRENCE = """
INSERT INTO knowledge_occurrence (problem_id, at, service, instance, count, event_ids, last_at)
VALUES (%(problem)s, %(bucket)s, %(service)s, %(instance)s, %(count)s, %(event_ids)s::jsonb,
        %(at)s)
ON CONFLICT (problem_id, at, service, instance) DO UPDATE SET
    count = knowledge_occurrence.count + EXCLUDED.count,
    last_at = GREATEST(knowledge_occurrence.last_at, EXCLUDED.last_at),
    event_ids = CASE
        WHEN jsonb_array_length(knowledge_occurrence.event_ids) >= %(cap)s
            THEN knowledge_occurrence.event_ids
        ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb)
                FROM jsonb_array_elements(knowledge_occurrence.event_ids || EXCLUDED.event_ids)
                     WITH ORDINALITY AS t(e, i)
               WHERE i <= %(cap)s)
    END
RETURNING (xmax = 0)
"""


def upsert_occurrence(
    problem_id: int,
    *,
    at: datetime,
    service: str,
    instance: str,
    count: int,
    event_ids: Sequence[str],
) -> bool:
    """Add ``count`` sightings to the minute bucket; True when the bucket row is new."""
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_OCCURRENCE,
            {
                "problem": problem_id,
                "bucket": Occurrence.bucket(at),
                "service": service,
                "instance": instance,
                "count": count,
                "event_ids": json.dumps(list(event_ids)[:OCCURRENCE_EVENT_IDS_CAP]),
                "at": at,
                "cap": OCCURRENCE_EVENT_IDS_CAP,
            },
        )
        return bool(cursor.fetchone()[0])
