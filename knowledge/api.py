"""Knowledge endpoints of the HTTP API, mounted by ``agents/ingest/api.py`` at
``/api/v1/knowledge``.

The router declares no authentication of its own: knowledge is a leaf and knows nothing of
API tokens. The ingest edge mounts it behind a service's API token (scope ``knowledge``) or a
logged-in staff session, so agents on other machines and the admin's own pages can both ask
for similar problems.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from ninja import Query, Router, Schema
from pydantic import Field, field_validator

from knowledge.models import Category
from knowledge.similarity import MAX_K, similar_problems


class SimilarQuery(Schema):
    text: str = Field(min_length=1, max_length=10_000)
    k: int = Field(default=5, ge=1, le=MAX_K)
    category: str = ""
    service: str = Field(default="", max_length=100)

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        # An empty value means "any": forms and curl both send ``category=``.
        if value and value not in Category.values:
            raise ValueError(f"unknown category; one of {', '.join(Category.values)}")
        return value


class SimilarProblemOut(Schema):
    id: int
    fingerprint: str
    title: str
    category: str
    severity: str
    status: str
    signal: str
    services: list[str]
    occurrence_count: int
    score: float
    admin_url: str


class SimilarOut(Schema):
    text: str
    results: list[SimilarProblemOut]


router = Router(tags=["knowledge"])


@router.get("/similar", response=SimilarOut, url_name="knowledge-similar")
def similar(request: HttpRequest, query: Query[SimilarQuery]) -> dict[str, Any]:
    """The problems closest to ``text`` with scores (1 = same direction), best first."""
    found = similar_problems(
        query.text,
        k=query.k,
        category=query.category or None,
        service=query.service or None,
    )
    results = [
        {
            "id": problem.pk,
            "fingerprint": problem.fingerprint,
            "title": problem.title,
            "category": problem.category,
            "severity": problem.severity,
            "status": problem.status,
            "signal": problem.signal,
            "services": problem.services,
            "occurrence_count": problem.occurrence_count,
            "score": round(score, 6),
            "admin_url": reverse("admin:knowledge_problem_change", args=[problem.pk]),
        }
        for problem, score in found
    ]
    return {"text": query.text, "results": results}
