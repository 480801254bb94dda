"""The knowledge graph: problems, occurrences, solutions, patterns and the edges between them.

Row behaviour lives here (a solution's success statistics, a pattern's snapshot and accuracy,
an edge's reinforcement arithmetic). Changes that span rows and must emit events go through
``knowledge/services/``; admin actions, commands and agents call those, never ``save()``
around them.

Nodes are problems, solutions and patterns (one module each), linked by edges (``edges.py``);
diagnoses and recommendations are in ``diagnoses.py``; incidents (one cause on one service,
with their state machine and timeline) in ``incidents.py``. Everything is re-exported here, so
callers and migrations say ``knowledge.models.Problem``.
"""

from knowledge.models.choices import (
    OCCURRENCE_EVENT_IDS_CAP,
    Category,
    Node,
    NodeKind,
    ProblemStatus,
    Relation,
    Severity,
)
from knowledge.models.diagnoses import Diagnosis, DiagnosisStatus, Recommendation
from knowledge.models.edges import NODE_MODELS, Edge, KnowledgeNode
from knowledge.models.incidents import (
    INCIDENT_TRANSITIONS,
    OPEN_STATES,
    EventKind,
    IllegalIncidentTransition,
    Incident,
    IncidentEvent,
    IncidentState,
    cause_key,
)
from knowledge.models.patterns import PATTERN_CONTENT_FIELDS, Pattern, PatternKind, PatternVersion
from knowledge.models.problems import (
    CountedEvent,
    NodeMixin,
    Occurrence,
    Problem,
    ProblemQuerySet,
    embedding_text,
    folds_a_word,
    generalises,
)
from knowledge.models.solutions import Solution, SolutionSource
from knowledge.stats import CREDIBLE_MASS, beta_cdf, beta_quantile, success_interval

__all__ = [
    "CREDIBLE_MASS",
    "NODE_MODELS",
    "OCCURRENCE_EVENT_IDS_CAP",
    "PATTERN_CONTENT_FIELDS",
    "Category",
    "CountedEvent",
    "Diagnosis",
    "DiagnosisStatus",
    "Edge",
    "EventKind",
    "INCIDENT_TRANSITIONS",
    "IllegalIncidentTransition",
    "Incident",
    "cause_key",
    "IncidentEvent",
    "IncidentState",
    "KnowledgeNode",
    "Node",
    "NodeKind",
    "NodeMixin",
    "OPEN_STATES",
    "Occurrence",
    "Pattern",
    "PatternKind",
    "PatternVersion",
    "Problem",
    "ProblemQuerySet",
    "ProblemStatus",
    "Recommendation",
    "Relation",
    "Severity",
    "Solution",
    "SolutionSource",
    "beta_cdf",
    "beta_quantile",
    "folds_a_word",
    "generalises",
    "embedding_text",
    "success_interval",
]
