"""Values that grammars mark as values, even where a message is one or two tokens (issue 15).

Syslog daemons print short messages whose only variable part is an address, a ``key=value``
value or a systemd unit name (``<id@host>``, ``mc=e08x``, ``nginx.service: Succeeded.``).
Left unmasked, each value is its own one-line event: drain3 never merges two single-token
messages, and a short template has too few constant words for the second pass to join.
"""

from __future__ import annotations

import random

import redis

from knowledge.fingerprint import Fingerprinter
from knowledge.loghub_crossval import mine_lines
from knowledge.logmask import mask, shape
from knowledge.logparse import TemplateMiner

UNITS = ["nginx", "redis-server", "docker", "ssh", "cron", "getty@tty1", "systemd-fsck@dev-sda1"]


def _groups(messages: list[str]) -> int:
    miner = TemplateMiner()
    return len(set(miner.final_cluster_ids([miner.add_message(m) for m in messages])))


def test_an_address_with_a_one_label_domain_is_a_value():
    assert mask("message-id=<k2x9q@web-34>", typed=False) == "message-id=<<*>>"
    assert mask("accepted for deploy@buildhost", typed=False) == "accepted for <*>"
    assert mask("message-id=<k2x9q@web-34>") == "message-id=<<EMAIL>>"


def test_a_number_at_a_date_is_not_read_as_an_address():
    assert mask("00000001@2016/9/27:20:30:31.455 start", typed=False) == "<*>@<*> start"


def test_one_token_messages_of_one_event_are_one_group():
    r = random.Random(5)
    messages = [
        f"message-id=<{r.getrandbits(40):x}{r.choice('qxz')}@{r.choice(['web', 'db'])}-{n}>"
        for n in range(40)
    ]
    assert _groups(messages) == 1


def test_a_key_value_holding_a_digit_is_a_value_as_a_whole():
    assert mask("read timeout (mc=e08x iar 0x1f)", typed=False) == "read timeout (mc=<*> iar <*>)"
    assert mask("built ver=go1.21.3", typed=False) == "built ver=<*>"
    assert mask("built ver=go1.21.3") == "built ver=<ID>"


def test_a_key_value_keeps_its_brackets_and_its_values_of_letters_only():
    assert mask("status=203/EXEC", typed=False) == mask("status=1/FAILURE", typed=False)
    assert mask("client=db-16.internal[10.0.0.7]", typed=False) == "client=<*>[<*>]"
    assert mask("level=info code=exited", typed=False) == "level=info code=exited"
    assert mask("from=<ab1@mx-2>, size=10", typed=False) == "from=<<*>>, size=<*>"


def test_values_glued_to_letters_outside_a_key_value_stay_names():
    assert mask("link eth0 up on u0", typed=False) == "link eth0 up on u0"


def test_messages_of_one_shape_mask_alike():
    # The result caches key on the shape (digits read as 1): the new rules must honour it.
    a, b = "mc=e08x to <x1@h-2> ok", "mc=e19x to <x7@h-5> ok"
    assert shape(a) == shape(b)
    assert mask(a, typed=False) == mask(b, typed=False)


def test_a_systemd_unit_name_is_a_value_and_its_type_stays():
    assert mask("nginx.service: Succeeded.", typed=False) == "<*>.service: Succeeded."
    assert mask("Starting getty@tty1.service...", typed=False) == "Starting <*>.service..."
    assert mask("Listening on dbus.socket.", typed=False) == "Listening on <*>.socket."
    assert mask("Reached multi-user.target") == "Reached <UNIT>.target"


def test_names_that_only_look_like_units_are_kept():
    assert mask("imported os.path from cache", typed=False) == "imported os.path from cache"
    assert mask("loaded nginx.service.d drop-ins", typed=False) == "loaded nginx.service.d drop-ins"


def test_systemd_one_liners_are_one_group_per_event():
    r = random.Random(9)
    succeeded = [f"{r.choice(UNITS)}.service: Succeeded." for _ in range(60)]
    starting = [f"Starting {r.choice(UNITS)}.service..." for _ in range(60)]
    ids = mine_lines(succeeded + starting, sim_th=0.6, max_word_values=4)
    assert len(set(ids[:60])) == 1
    assert len(set(ids[60:])) == 1
    assert ids[0] != ids[60]


def test_short_events_named_by_a_bare_word_stay_apart():
    # ``tickTime set to 2000`` / ``maxSessionTimeout set to -1``: a bare word is as often the
    # event's name, so the rules above must not reach it.
    keys = ["tickTime", "initLimit", "syncLimit", "maxSessionTimeout", "minSessionTimeout"]
    assert _groups([f"{key} set to {n}" for n, key in enumerate(keys)]) == len(keys)


def test_the_live_fingerprint_of_a_unit_message_ignores_the_unit(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace="test:fp:units")
    prints = {
        worker.fingerprint_message(f"{unit}.service: Succeeded.", service="host").fingerprint
        for unit in UNITS
    }
    assert len(prints) == 1
    other = worker.fingerprint_message("nginx.service: Failed.", service="host").fingerprint
    assert other not in prints


def test_a_bracketed_leading_word_does_not_split_an_event():
    # CRON's ``(%s) CMD (%s)``: the user leads, in parentheses; drain3's prefix tree would
    # give each user its own branch, where the rest of the message would agree.
    users = ["alice", "bob", "root", "deploy", "www-data", "svc_backup", "mia"]
    r = random.Random(3)
    cron = [
        f"({r.choice(users)}) CMD (/opt/jobs/{r.randint(1, 999)}.sh --quiet)" for _ in range(50)
    ]
    assert _groups(cron) == 1


def test_a_bracketed_leading_word_still_needs_the_rest_to_agree():
    texts = ["link is up on port", "link is down on port"]
    miner = TemplateMiner()
    mined = [miner.add_message(f"[{tag}] {text}") for tag in ("hsm", "radio") for text in texts]
    ids = miner.final_cluster_ids(mined)
    assert ids[0] == ids[2] and ids[1] == ids[3]  # the tag alone does not split
    assert ids[0] != ids[1]  # a differing word still does


def test_a_word_enclosed_by_constant_words_is_a_slot():
    names = ["nginx", "postgresql", "redis-server", "chronyd", "docker", "ssh"]
    assert _groups([f"Proxy {name} started." for name in names]) == 1


def test_a_leading_word_of_a_short_message_stays_the_events_name():
    # HPC's ``halt (command <*>)`` / ``boot (command <*>)`` are separate events in its labels.
    commands = ["halt", "boot", "wait", "risBoot", "clusterAddMember", "bootGenvmunix"]
    assert _groups([f"{command} (command {n})" for n, command in enumerate(commands)]) == 6


def _resolved(worker: Fingerprinter, fingerprints: list[str]) -> set[str]:
    aliases = worker.aliases()
    out = set()
    for fingerprint in fingerprints:
        for _ in range(16):
            target = aliases.get(fingerprint)
            if target is None or target == fingerprint:
                break
            fingerprint = target
        out.add(fingerprint)
    return out


def test_the_live_path_joins_cron_users_and_enclosed_slots(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace="test:fp:slots")
    users = ["alice", "bob", "root", "deploy", "mia", "svc_backup"]
    cron = [f"({user}) CMD (/opt/jobs/run.sh --quiet)" for user in users]
    proxies = [f"Proxy {name} started." for name in ["nginx", "db", "cache", "api", "web", "mq"]]
    prints = {
        name: [worker.fingerprint_message(m, service="host").fingerprint for m in messages]
        for name, messages in (("cron", cron), ("proxy", proxies))
    }
    assert len(_resolved(worker, prints["cron"])) == 1
    assert len(_resolved(worker, prints["proxy"])) == 1
    assert _resolved(worker, prints["cron"]) != _resolved(worker, prints["proxy"])
