"""Models of the remediation app: rules, runs and their state machine, approvals, audit log.

Row behaviour lives here (a rule matching a diagnosis, a run moving between states with a
conditional UPDATE); work that spans rows, talks to the network or emits events lives in
``remediation/engine/``.
"""

from remediation.models.audit_log import AuditEntry, kind_words
from remediation.models.rules import (
    APPROVE_CODENAME,
    APPROVE_PERMISSION,
    AUTONOMY_CEILING,
    RISK_RANK,
    AutonomyMode,
    RemediationSettings,
    RiskLevel,
    Rule,
)
from remediation.models.runs import (
    TERMINAL,
    TRANSITIONS,
    Approval,
    AttemptOutcome,
    Decision,
    IllegalTransition,
    RemediationRun,
    RunAttempt,
    RunStatus,
    RunTransition,
)

__all__ = [
    "APPROVE_CODENAME",
    "APPROVE_PERMISSION",
    "AUTONOMY_CEILING",
    "Approval",
    "AttemptOutcome",
    "AuditEntry",
    "AutonomyMode",
    "Decision",
    "IllegalTransition",
    "RISK_RANK",
    "RemediationRun",
    "RemediationSettings",
    "RiskLevel",
    "Rule",
    "RunAttempt",
    "RunStatus",
    "RunTransition",
    "TERMINAL",
    "TRANSITIONS",
    "kind_words",
]
