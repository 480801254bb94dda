"""Models of the remediation app (rules, runs, approvals and the audit log come later)."""
