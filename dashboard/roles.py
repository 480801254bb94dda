"""Operator roles: the viewer, operator and admin groups and what each may do."""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from remediation.models import APPROVE_CODENAME, APPROVE_PERMISSION

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLE_GROUPS = (VIEWER, OPERATOR, ADMIN)
APPROVE_APP = APPROVE_PERMISSION.split(".", 1)[0]
# Groups that hold the approve permission once remediation defines it.
APPROVING_GROUPS = (OPERATOR, ADMIN)


def ensure_groups(apps: Any = global_apps) -> None:
    """Create the role groups and give approvers the approve permission when it exists.

    Idempotent; ``apps`` is the migration state's registry inside a data migration."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    groups = {name: group_model.objects.get_or_create(name=name)[0] for name in ROLE_GROUPS}
    permission = permission_model.objects.filter(
        content_type__app_label=APPROVE_APP, codename=APPROVE_CODENAME
    ).first()
    if permission is None:  # remediation has not migrated yet; post_migrate comes back
        return
    for name in APPROVING_GROUPS:
        groups[name].permissions.add(permission)


def attach_permissions(sender: Any, **kwargs: Any) -> None:
    """post_migrate receiver: runs after every app's migrations, so also after remediation's."""
    ensure_groups(kwargs.get("apps") or global_apps)


def can_approve(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.has_perm(APPROVE_PERMISSION))
