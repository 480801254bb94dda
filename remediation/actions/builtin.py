"""The built-in actions. Network actions speak the control API (``control.py``)."""

from __future__ import annotations

import re
import subprocess  # noqa: S404  (argv lists from an allow-list, never a shell)
from typing import Any, Literal

from django.conf import settings
from pydantic import Field, field_validator

from agents import mesh
from agents.events import system_event
from agents.learning.learners import recommended_batch_size
from agents.service_registry import healthy_instances
from agents.system_events import Notification
from remediation.actions import control
from remediation.actions.base import Action, ActionContext, ActionError, Params, register_action
from remediation.models import RiskLevel

SERVICE_NAME = r"^[-a-zA-Z0-9_]{1,100}$"


def _target_service(action: Action, override: str | None) -> str:
    return override or action.service


@register_action
class RetryWithSmallerBatch(Action):
    """Retry failed imports with a smaller batch: the learned size when the learning agent
    has one, else the default shrunk by ``factor``, never below ``min_batch_size``."""

    name = "retry_with_smaller_batch"
    title = "Retry with a smaller batch"
    risk = RiskLevel.LOW
    idempotent = True  # the control API dedupes by idempotency key; a retry re-queues once

    class Params(Params):
        factor: float = Field(default=0.5, gt=0, le=1)
        min_batch_size: int = Field(default=100, ge=1, le=100_000)
        default_batch_size: int = Field(default=1000, ge=1, le=100_000)
        import_id: str = Field(default="", max_length=200)

    def batch_size(self) -> int:
        p = self.params
        shrunk = max(1, int(p.default_batch_size * p.factor))
        return max(p.min_batch_size, recommended_batch_size(shrunk))

    def dry_run(self) -> str:
        return (
            f"Ask {self.service} to retry failed imports"
            f"{' ' + self.params.import_id if self.params.import_id else ''}"
            f" with batch size {self.batch_size()}."
        )

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        body = {"batch_size": self.batch_size(), "import_id": self.params.import_id}
        answer = control.call(ctx.service, "retry_import", _body(ctx, body), run_id=ctx.run_id)
        return {"batch_size": body["batch_size"], "answer": answer}


@register_action
class RestartService(Action):
    """Restart one instance, or all of them one at a time (rolling); the safety layer
    refuses a non-rolling restart of every instance at once."""

    name = "restart_service"
    title = "Restart service"
    risk = RiskLevel.MEDIUM

    class Params(Params):
        service: str | None = Field(default=None, pattern=SERVICE_NAME)
        rolling: bool = True
        only_unhealthy: bool = False

    def targets(self) -> list[str]:
        service = _target_service(self, self.params.service)
        if self.instance and not self.params.rolling:
            return [self.instance]
        return [i.instance_id for i in healthy_instances(service)] or (
            [self.instance] if self.instance else []
        )

    def blast_radius(self) -> dict[str, Any]:
        service = _target_service(self, self.params.service)
        return {
            "service": service,
            "instances": self.targets(),
            "rolling": self.params.rolling,
            "restart": True,
        }

    def dry_run(self) -> str:
        radius = self.blast_radius()
        how = "one at a time" if self.params.rolling else "at once"
        return f"Restart {radius['service']} instances {', '.join(radius['instances'])} {how}."

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        radius = self.blast_radius()
        body = {"instances": radius["instances"], "rolling": self.params.rolling}
        return control.call(radius["service"], "restart", _body(ctx, body), run_id=ctx.run_id)


class _Scale(Action):
    risk = RiskLevel.MEDIUM
    supports_rollback = True
    direction: int = 1

    class Params(Params):
        service: str | None = Field(default=None, pattern=SERVICE_NAME)
        replicas: int = Field(default=1, ge=1, le=10)

    def dry_run(self) -> str:
        verb = "Add" if self.direction > 0 else "Remove"
        service = _target_service(self, self.params.service)
        return f"{verb} {self.params.replicas} replica(s) of {service}; rollback reverses it."

    def _scale(self, ctx: ActionContext, delta: int, op: str) -> dict[str, Any]:
        service = _target_service(self, self.params.service)
        return control.call(service, op, _body(ctx, {"delta": delta}), run_id=ctx.run_id)

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        return self._scale(ctx, self.direction * self.params.replicas, "scale")

    def rollback(self, ctx: ActionContext) -> dict[str, Any]:
        # A separate operation name keeps its idempotency key apart from the execution's.
        return self._scale(ctx, -self.direction * self.params.replicas, "scale_rollback")


@register_action
class ScaleOut(_Scale):
    name = "scale_out"
    title = "Scale out"
    direction = 1


@register_action
class ScaleIn(_Scale):
    name = "scale_in"
    title = "Scale in"
    direction = -1


@register_action
class ClearCache(Action):
    name = "clear_cache"
    title = "Clear cache"
    risk = RiskLevel.LOW
    idempotent = True

    class Params(Params):
        cache: str = Field(default="default", pattern=r"^[a-z0-9_-]{1,50}$")
        pattern: str = Field(default="*", max_length=200)

    def dry_run(self) -> str:
        p = self.params
        return f"Clear keys {p.pattern!r} of cache {p.cache!r} on {self.service}."

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        body = {"cache": self.params.cache, "pattern": self.params.pattern}
        return control.call(ctx.service, "clear_cache", _body(ctx, body), run_id=ctx.run_id)


@register_action
class ToggleFeatureFlag(Action):
    name = "toggle_feature_flag"
    title = "Toggle feature flag"
    risk = RiskLevel.MEDIUM
    idempotent = True
    supports_rollback = True

    class Params(Params):
        flag: str = Field(pattern=r"^[a-z0-9_.-]{1,100}$")
        enabled: bool
        duration_minutes: int | None = Field(default=None, ge=1, le=10_080)

    def dry_run(self) -> str:
        state = "on" if self.params.enabled else "off"
        until = f" for {self.params.duration_minutes} min" if self.params.duration_minutes else ""
        return f"Turn feature flag {self.params.flag!r} {state} on {self.service}{until}."

    def _set(self, ctx: ActionContext, enabled: bool, op: str) -> dict[str, Any]:
        body = {
            "flag": self.params.flag,
            "enabled": enabled,
            "duration_minutes": self.params.duration_minutes,
        }
        return control.call(ctx.service, op, _body(ctx, body), run_id=ctx.run_id)

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        return self._set(ctx, self.params.enabled, "feature_flag")

    def rollback(self, ctx: ActionContext) -> dict[str, Any]:
        return self._set(ctx, not self.params.enabled, "feature_flag_rollback")


@register_action
class Webhook(Action):
    """An operation of the managed service's control API by path (``/control/webhook/...``):
    only the registered service is ever called, never a URL taken from a rule or event."""

    name = "webhook"
    title = "Call a control webhook"
    risk = RiskLevel.HIGH

    class Params(Params):
        path: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$", max_length=200)
        body: dict[str, Any] = Field(default_factory=dict)

    def dry_run(self) -> str:
        return f"POST {self.service} control webhook {self.params.path!r} with {self.params.body}."

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        op = f"webhook/{self.params.path}"
        return control.call(ctx.service, op, _body(ctx, self.params.body), run_id=ctx.run_id)


# One argument: a flag, or a plain value. No spaces, quotes, `;`, `|`, `$`, backticks, globs.
SAFE_ARG = re.compile(r"^(?:--?[A-Za-z][A-Za-z0-9-]*(?:=[A-Za-z0-9_.:@+-]+)?|[A-Za-z0-9_.:@+-]+)$")


def allowed_commands() -> dict[str, dict[str, Any]]:
    """``REMEDIATION_COMMANDS``: name -> {"argv": [...], "flags": [...], "timeout": s}."""
    return getattr(settings, "REMEDIATION_COMMANDS", {})


@register_action
class Command(Action):
    """Run an allow-listed command: its argv comes from settings, the rule adds only
    validated arguments, and it runs without a shell (no interpolation anywhere)."""

    name = "command"
    title = "Run an allow-listed command"
    risk = RiskLevel.HIGH

    class Params(Params):
        command: str = Field(pattern=r"^[a-z0-9_]{1,100}$")
        args: list[str] = Field(default_factory=list, max_length=20)
        # Optional: another allow-listed command that undoes this one (run when the symptom
        # persists after the action), e.g. a rollout undo after a restart.
        rollback_command: str = Field(default="", pattern=r"^([a-z0-9_]{1,100})?$")
        rollback_args: list[str] = Field(default_factory=list, max_length=20)

        @field_validator("args", "rollback_args")
        @classmethod
        def _safe_args(cls, args: list[str]) -> list[str]:
            for arg in args:
                if len(arg) > 200 or not SAFE_ARG.match(arg) or ".." in arg:
                    raise ValueError(f"argument {arg!r} is not allowed")
            return args

    def __init__(self, parameters: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(parameters, **kwargs)
        self.spec = _command_spec(self.params.command, self.params.args)
        self.rollback_spec = (
            _command_spec(self.params.rollback_command, self.params.rollback_args)
            if self.params.rollback_command
            else None
        )

    def argv(self) -> list[str]:
        return [*self.spec["argv"], *self.params.args]

    def rollback_argv(self) -> list[str]:
        return [*(self.rollback_spec or {}).get("argv", []), *self.params.rollback_args]

    def dry_run(self) -> str:
        undo = f"; rollback runs {self.rollback_argv()!r}" if self.rollback_spec else ""
        return f"Run {self.argv()!r} (no shell){undo}."

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        return _run(self.params.command, self.argv(), self.spec)

    def can_roll_back(self) -> bool:
        return self.rollback_spec is not None

    def rollback(self, ctx: ActionContext) -> dict[str, Any]:
        if self.rollback_spec is None:
            raise ActionError(f"{self.params.command} names no rollback command")
        return _run(self.params.rollback_command, self.rollback_argv(), self.rollback_spec)


def _command_spec(name: str, args: list[str]) -> dict[str, Any]:
    spec = allowed_commands().get(name)
    if spec is None:
        raise ActionError(f"command {name!r} is not in REMEDIATION_COMMANDS")
    flags = set(spec.get("flags", []))
    for arg in args:
        if arg.startswith("-") and arg.split("=", 1)[0] not in flags:
            raise ActionError(f"flag {arg!r} is not allowed for {name}")
    return spec


def _run(name: str, argv: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603  (argv list, shell=False, allow-listed)
        argv, shell=False, capture_output=True, text=True,
        timeout=spec.get("timeout", 300), check=False,
    )  # fmt: skip
    result = {
        "returncode": completed.returncode,
        "stdout": completed.stdout[-2000:],
        "stderr": completed.stderr[-2000:],
    }
    if completed.returncode != 0:
        raise ActionError(f"{name} exited {completed.returncode}")
    return result


@register_action
class Notify(Action):
    """Tell people (the dashboard, on-call) through a ``remediation.notification`` event."""

    name = "notify"
    title = "Notify"
    risk = RiskLevel.LOW
    idempotent = True

    class Params(Params):
        channel: Literal["oncall", "user", "dashboard"] = "dashboard"
        template: str = Field(default="", max_length=100)
        severity: Literal["info", "warning", "critical"] = "warning"
        message: str = Field(default="", max_length=1000)

    def dry_run(self) -> str:
        return f"Notify {self.params.channel} ({self.params.severity}) about {self.service}."

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        notification = Notification(
            run=ctx.run_id, service=ctx.service, signal=ctx.signal, **self.params.model_dump()
        )
        severity = "critical" if self.params.severity == "critical" else "warning"
        event = system_event(
            "remediation.notification", notification, instance="remediation", severity=severity
        )
        return {"event": mesh.publish(event)}

    def verify(self, ctx: ActionContext) -> bool | None:
        return True  # telling a human is the whole job


def _body(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"run": ctx.run_id, "instance": ctx.instance, "params": params}
