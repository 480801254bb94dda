"""Roles: groups made by migration; approvers get the permission once remediation has it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from dashboard.roles import ADMIN, OPERATOR, VIEWER, can_approve, ensure_groups

pytestmark = pytest.mark.django_db


def test_it_creates_the_three_role_groups_by_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {VIEWER, OPERATOR, ADMIN}


def test_it_attaches_the_approve_permission_to_operators_and_admins_once_it_exists(
    approve_permission,
):
    ensure_groups()

    assert approve_permission in Group.objects.get(name=OPERATOR).permissions.all()
    assert approve_permission in Group.objects.get(name=ADMIN).permissions.all()
    assert approve_permission not in Group.objects.get(name=VIEWER).permissions.all()


def test_it_tolerates_the_permission_not_existing_yet():
    ensure_groups()  # no remediation permission in this database: nothing to attach

    assert Group.objects.filter(name=OPERATOR).exists()


def test_only_operators_and_admins_may_approve(
    approve_permission, viewer_user, operator_user, admin_member
):
    ensure_groups()

    assert can_approve(operator_user)
    assert can_approve(admin_member)
    assert not can_approve(viewer_user)
