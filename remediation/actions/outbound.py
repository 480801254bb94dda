"""Outbound webhooks: a CI pipeline's rollback, a feature-flag service, a deploy hook.

The URL, and any headers (a token), come from ``REMEDIATION_WEBHOOKS`` in the settings; a
rule names an entry and supplies only the JSON body. So a rule edited in the admin can never
point the remediation worker at an address an operator did not list::

    REMEDIATION_WEBHOOKS='{"ci_rollback": {"url": "https://ci.example.com/hooks/rollback",
                           "headers": {"Authorization": "Bearer ..."}, "timeout": 10}}'

The call is a ``POST`` of the rule's body as JSON, with ``Idempotency-Key`` (the run and the
operation) so a receiver that honours it acts once; any 2xx answer is success. It is not
retried: a CI pipeline triggered twice is not harmless.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings
from pydantic import Field

from remediation.actions.base import Action, ActionContext, ActionError, Params, register_action
from remediation.models import RiskLevel

WEBHOOK_NAME = r"^([a-z0-9_]{1,100})?$"


def allowed_webhooks() -> dict[str, dict[str, Any]]:
    """``REMEDIATION_WEBHOOKS``: name -> {"url": ..., "headers": {...}, "timeout": s}."""
    return getattr(settings, "REMEDIATION_WEBHOOKS", {})


def _spec(name: str) -> dict[str, Any]:
    spec = allowed_webhooks().get(name)
    if spec is None:
        raise ActionError(f"webhook {name!r} is not in REMEDIATION_WEBHOOKS")
    return spec


@register_action
class HttpWebhook(Action):
    name = "http_webhook"
    title = "Call an allow-listed webhook"
    risk = RiskLevel.HIGH

    class Params(Params):
        webhook: str = Field(pattern=WEBHOOK_NAME, min_length=1)
        body: dict[str, Any] = Field(default_factory=dict)
        # Optional: the webhook that undoes this one (flag back on, roll the rollback back).
        rollback_webhook: str = Field(default="", pattern=WEBHOOK_NAME)
        rollback_body: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, parameters: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(parameters, **kwargs)
        self.spec = _spec(self.params.webhook)
        self.rollback_spec = (
            _spec(self.params.rollback_webhook) if self.params.rollback_webhook else None
        )

    def dry_run(self) -> str:
        undo = f"; rollback calls {self.params.rollback_webhook!r}" if self.rollback_spec else ""
        return (
            f"POST webhook {self.params.webhook!r} ({self.spec['url']}) "
            f"with {self.params.body}{undo}."
        )

    def blast_radius(self) -> dict[str, Any]:
        return {**super().blast_radius(), "webhook": self.params.webhook}

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        return _post(self.params.webhook, self.spec, self.params.body, ctx, "execute")

    def can_roll_back(self) -> bool:
        return self.rollback_spec is not None

    def rollback(self, ctx: ActionContext) -> dict[str, Any]:
        if self.rollback_spec is None:
            raise ActionError(f"webhook {self.params.webhook!r} names no rollback webhook")
        name, body = self.params.rollback_webhook, self.params.rollback_body
        return _post(name, self.rollback_spec, body, ctx, "rollback")


def _post(
    name: str, spec: dict[str, Any], body: dict[str, Any], ctx: ActionContext, operation: str
) -> dict[str, Any]:
    headers = {
        **{str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
        "Idempotency-Key": f"remediation-{ctx.run_id}-{name}-{operation}",
    }
    try:
        response = httpx.post(
            spec["url"], json=body, headers=headers, timeout=float(spec.get("timeout", 10))
        )
    except httpx.HTTPError as exc:
        raise ActionError(f"webhook {name!r}: {type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise ActionError(f"webhook {name!r}: HTTP {response.status_code}: {response.text[:200]}")
    return {"webhook": name, "status": response.status_code, "answer": response.text[:2000]}
