"""The one way to change the knowledge graph.

Every function here changes rows in one transaction and, when a problem appears or changes,
announces it (``announce.py``: a signal the agents layer publishes on the mesh *after
commit*). One module per kind of node, re-exported here so callers say
``services.record_sighting(...)``:

* ``sightings`` -- the hot path counting every error into its problem;
* ``aliases`` -- following the fingerprinter's merges (one problem per kind of error);
* ``problems`` -- curated edits, embeddings, status;
* ``merges`` -- folding problems together (every caller: admin, sweep, sightings);
* ``solutions``, ``edges``, ``patterns`` -- the rest of the graph;
* ``incidents`` -- opening incidents and moving them through their state machine.
"""

from knowledge.services.aliases import AliasSweep, follow_alias, follow_templates, sweep_aliases
from knowledge.services.edges import as_node, ensure_edge, link
from knowledge.services.incidents import (
    SameCauseOpen,
    acknowledge,
    add_evidence,
    add_note,
    incident_for,
    open_for_cause,
    open_incident,
    record_step,
    remediation_failed,
    resolve,
    resolve_diagnosis,
    start_remediation,
)
from knowledge.services.merges import MergeConflict, MergeResult, merge_problems
from knowledge.services.patterns import (
    record_pattern_match,
    rollback_pattern,
    save_pattern_version,
    set_pattern_flags,
    upsert_pattern,
)
from knowledge.services.problems import (
    embed_problems,
    ensure_problem,
    follow_template,
    problem_edited,
    set_problem_status,
)
from knowledge.services.sightings import prune_counted_events, record_sighting
from knowledge.services.solutions import add_solution, record_solution_outcome

__all__ = [
    "SameCauseOpen",
    "open_for_cause",
    "AliasSweep",
    "follow_alias",
    "follow_templates",
    "sweep_aliases",
    "acknowledge",
    "add_evidence",
    "add_note",
    "incident_for",
    "open_incident",
    "record_step",
    "remediation_failed",
    "resolve",
    "resolve_diagnosis",
    "start_remediation",
    "add_solution",
    "as_node",
    "embed_problems",
    "ensure_edge",
    "ensure_problem",
    "follow_template",
    "link",
    "MergeConflict",
    "MergeResult",
    "merge_problems",
    "problem_edited",
    "prune_counted_events",
    "record_pattern_match",
    "record_sighting",
    "record_solution_outcome",
    "rollback_pattern",
    "save_pattern_version",
    "set_pattern_flags",
    "set_problem_status",
    "upsert_pattern",
]
