"""The action base class and the one registry of action kinds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from remediation.models import RiskLevel

_REGISTRY: dict[str, type[Action]] = {}


class ActionError(Exception):
    """The action could not be prepared or performed; the message is shown to operators."""


class Params(BaseModel):
    """Parameters of an action: unknown keys are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ActionContext:
    """What an action knows about the run it serves (ids and plain values, no ORM rows)."""

    run_id: int
    service: str
    instance: str = ""
    signal: str = ""
    result: dict[str, Any] = field(default_factory=dict)


class Action:
    """Subclass, set the class attributes, implement :meth:`dry_run` and :meth:`execute`.

    ``idempotent`` says whether executing twice is harmless: only idempotent actions are
    resumed after a worker died mid-execution; the others are failed and escalated.
    ``verify`` returns True/False when the action can tell by itself whether it helped, or
    None to leave the verdict to the watched signal (``remediation/verification.py``).
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    risk: ClassVar[RiskLevel] = RiskLevel.MEDIUM
    idempotent: ClassVar[bool] = False
    supports_rollback: ClassVar[bool] = False
    Params: ClassVar[type[Params]] = Params

    def __init__(self, parameters: dict[str, Any], *, service: str = "", instance: str = ""):
        try:
            self.params = self.Params.model_validate(parameters or {})
        except ValidationError as exc:
            raise ActionError(f"{self.name}: invalid parameters: {exc}") from exc
        self.service = service
        self.instance = instance

    def dry_run(self) -> str:
        """What executing would do, in words an approver reads before clicking."""
        raise NotImplementedError

    def blast_radius(self) -> dict[str, Any]:
        """What the action touches (services, instances), shown beside the preview."""
        return {"service": self.service, "instances": [self.instance] if self.instance else []}

    def execute(self, ctx: ActionContext) -> dict[str, Any]:
        """Do it; return what happened (stored on the run). Raise ActionError on failure."""
        raise NotImplementedError

    def verify(self, ctx: ActionContext) -> bool | None:
        return None

    def can_roll_back(self) -> bool:
        """Whether :meth:`rollback` undoes this configured action (some need a rollback
        named in their parameters)."""
        return self.supports_rollback

    def rollback(self, ctx: ActionContext) -> dict[str, Any]:
        raise ActionError(f"{self.name} cannot be rolled back")


def register_action(cls: type[Action]) -> type[Action]:
    """Class decorator: the one place action kinds are made known."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two actions are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def get_action(name: str) -> type[Action]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ActionError(f"unknown action {name!r}") from None


def action_title(name: str) -> str:
    """What operators read for an action: its title ("Restart service"); a name no longer
    registered (old runs keep theirs) as words."""
    known = _REGISTRY.get(name)
    if known is not None and known.title:
        return known.title
    return name.replace("_", " ").capitalize()


def registered_actions() -> dict[str, type[Action]]:
    return dict(_REGISTRY)
