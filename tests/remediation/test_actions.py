"""The action registry: validated parameters, the Command allow-list without a shell,
webhooks only to the registered service, and the control API's retries."""

from __future__ import annotations

import pytest
from django.test import override_settings

from remediation.actions import ActionContext, ActionError, get_action, registered_actions
from remediation.actions import control as control_api

pytestmark = pytest.mark.django_db(transaction=True)

COMMANDS = {"greet": {"argv": ["/bin/echo", "hello"], "flags": ["--name"], "timeout": 5}}


def ctx(**fields) -> ActionContext:
    return ActionContext(run_id=fields.pop("run_id", 1), service="bookmarks", **fields)


def test_the_registry_has_every_catalogue_action():
    assert set(registered_actions()) == {
        "retry_with_smaller_batch", "restart_service", "scale_out", "scale_in", "clear_cache",
        "toggle_feature_flag", "webhook", "http_webhook", "command", "notify",
    }  # fmt: skip


def test_unknown_parameters_and_actions_are_refused():
    with pytest.raises(ActionError, match="invalid parameters"):
        get_action("clear_cache")({"cache": "default", "rm": "-rf"})
    with pytest.raises(ActionError, match="unknown action"):
        get_action("format_disk")


@override_settings(REMEDIATION_COMMANDS=COMMANDS)
@pytest.mark.parametrize(
    "args",
    [
        ["world; rm -rf /"],
        ["$(reboot)"],
        ["`id`"],
        ["a | nc evil 1"],
        ["../../etc/passwd"],
        ["--exec=sh"],  # a flag the command does not allow
        ["two words"],
    ],
)
def test_the_command_action_refuses_arguments_that_would_inject(args):
    with pytest.raises(ActionError):
        get_action("command")({"command": "greet", "args": args})


@override_settings(REMEDIATION_COMMANDS=COMMANDS)
def test_the_command_action_refuses_commands_not_allow_listed():
    with pytest.raises(ActionError, match="not in REMEDIATION_COMMANDS"):
        get_action("command")({"command": "rm"})


@override_settings(REMEDIATION_COMMANDS=COMMANDS)
def test_an_allow_listed_command_runs_as_an_argv_list():
    action = get_action("command")({"command": "greet", "args": ["--name=ada", "x"]})

    result = action.execute(ctx())

    assert action.argv() == ["/bin/echo", "hello", "--name=ada", "x"]
    assert result["stdout"] == "hello --name=ada x\n"


def test_webhook_paths_stay_under_the_control_api():
    for path in ("../admin", "http://evil/x", "/abs", "a//b"):
        with pytest.raises(ActionError):
            get_action("webhook")({"path": path})


def test_a_webhook_reaches_the_registered_service(control):
    action = get_action("webhook")({"path": "certs/renew", "body": {"domain": "x"}},
                                   service="bookmarks")  # fmt: skip

    action.execute(ctx())

    assert control.requests[0]["operation"] == "webhook/certs/renew"
    assert control.requests[0]["body"]["params"] == {"domain": "x"}


def test_the_control_client_retries_server_errors_then_gives_up(control, monkeypatch):
    monkeypatch.setattr(control_api, "BACKOFF_SECONDS", 0)
    control.fail["clear_cache"] = 503

    with pytest.raises(ActionError, match="HTTP 503 after 3 attempts"):
        control_api.call("bookmarks", "clear_cache", {}, run_id=7)

    assert len(control.requests) == 3
    assert {r["key"] for r in control.requests} == {"remediation-7-clear_cache"}


def test_no_call_leaves_for_a_control_url_outside_the_allow_list(control, settings):
    """The allow-list is checked again at every call: a URL accepted yesterday is not
    called today once an admin narrowed the networks (or its DNS moved)."""
    settings.CONTROL_URL_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    with pytest.raises(ActionError, match="control URL refused"):
        control_api.call("bookmarks", "restart", {}, run_id=3)

    assert control.requests == []


def test_a_service_without_a_control_url_is_an_error(db):
    with pytest.raises(ActionError, match="no registered control URL"):
        control_api.call("nowhere", "restart", {}, run_id=1)


def test_dry_runs_describe_what_would_happen(control):
    assert "batch size 500" in get_action("retry_with_smaller_batch")({}, service="b").dry_run()
    scale = get_action("scale_in")({"replicas": 2}, service="bookmarks")
    assert "Remove 2 replica(s)" in scale.dry_run()
    flag = get_action("toggle_feature_flag")({"flag": "imports_enabled", "enabled": False})
    assert "off" in flag.dry_run()
