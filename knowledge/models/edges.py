"""Edges: typed, weighted links between any two nodes, and the read-only node view.

An :class:`Edge` names its two ends by ``(kind, id)`` so any kind can point at any kind with
one table and one recursive query. Deleting a node deletes its edges
(``_drop_edges_of_deleted_node``), since there is no foreign key to cascade.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver

from knowledge.models.choices import Node, NodeKind, Relation
from knowledge.models.patterns import Pattern
from knowledge.models.problems import Problem
from knowledge.models.solutions import Solution

# --- Edges --------------------------------------------------------------------------------------

NODE_MODELS: dict[str, type[models.Model]] = {
    NodeKind.PROBLEM: Problem,
    NodeKind.SOLUTION: Solution,
    NodeKind.PATTERN: Pattern,
}


class Edge(models.Model):
    """A typed, weighted relation between two nodes, reinforced by repeated evidence.

    ``weight`` is the mean of the weights observed so far; ``evidence_count`` how many times
    the relation was observed (see :meth:`reinforced_weight`).
    """

    source_kind = models.CharField(max_length=10, choices=NodeKind.choices)
    source_id = models.BigIntegerField()
    relation = models.CharField(max_length=20, choices=Relation.choices)
    target_kind = models.CharField(max_length=10, choices=NodeKind.choices)
    target_id = models.BigIntegerField()
    weight = models.FloatField(default=1.0)
    evidence_count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_kind", "source_id", "relation"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_id", "target_kind", "target_id", "relation"],
                name="knowledge_edge_unique",
            )
        ]
        indexes = [
            models.Index(fields=["target_kind", "target_id"], name="knowledge_edge_target"),
        ]

    def __str__(self) -> str:
        # Ids, not titles: a heading must not cost two queries per row of a changelist.
        return (
            f"{self.get_source_kind_display()} {self.source_id} {self.get_relation_display()} "
            f"{self.get_target_kind_display().lower()} {self.target_id}"
        )

    @property
    def source(self) -> Node:
        return (self.source_kind, self.source_id)

    @property
    def target(self) -> Node:
        return (self.target_kind, self.target_id)

    @staticmethod
    def reinforced_weight(
        weight: float, evidence: int, new_weight: float, new_evidence: int
    ) -> float:
        """Running mean, so many weak observations are not outweighed by one strong one."""
        return (weight * evidence + new_weight * new_evidence) / (evidence + new_evidence)


class KnowledgeNode(models.Model):
    """Read-only view over every node kind (``knowledge_nodes``, created by a migration)."""

    key = models.CharField(max_length=40, primary_key=True)
    kind = models.CharField(max_length=10, choices=NodeKind.choices)
    node_id = models.BigIntegerField(db_column="id")
    label = models.CharField(max_length=300)
    created = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "knowledge_nodes"

    def __str__(self) -> str:
        return f"{self.kind}:{self.node_id} {self.label}"


@receiver(post_delete, sender=Problem)
@receiver(post_delete, sender=Solution)
@receiver(post_delete, sender=Pattern)
def _drop_edges_of_deleted_node(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    kind, pk = instance.node
    Edge.objects.filter(
        models.Q(source_kind=kind, source_id=pk) | models.Q(target_kind=kind, target_id=pk)
    ).delete()
