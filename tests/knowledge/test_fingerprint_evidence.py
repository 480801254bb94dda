"""A new service's first fingerprints: word slots that are values, known early (issue 15).

Real Redis, small synthetic streams. The fingerprint an agent and the knowledge graph see
first is the one handed out when the line arrives; these tests pin that an event whose first
lines vary a user name gets one fingerprint from its first line on, on the evidence of
``knowledge.fingerprint_evidence`` (a key before the slot, a name's shape, values known from
another event), in every worker and after a restart, and that words with no such evidence
still split events.
"""

from __future__ import annotations

import redis

from knowledge.fingerprint import Fingerprinter
from tests.knowledge.lockless import CountingRedis

NAMESPACE = "test:fp:evidence"
USERS = ["alice", "bob", "carol", "dave", "erin"]


def _fingerprints(worker: Fingerprinter, messages: list[str]) -> list[str]:
    return [worker.fingerprint_message(m).fingerprint for m in messages]


def test_a_name_after_a_key_is_a_value_from_the_first_line(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    handed = _fingerprints(worker, [f"Session opened for user {u} on tty1" for u in USERS])
    assert len(set(handed)) == 1  # handed out: no line waits for a merge
    assert worker.aliases() == {}
    cancelled = _fingerprints(worker, [f"Order {n} cancelled by {u}" for n, u in enumerate(USERS)])
    assert len(set(cancelled)) == 1 and cancelled[0] != handed[0]


def test_a_name_beside_a_word_makes_the_slot_a_value_and_keeps_the_first_fingerprint(
    clean_redis: redis.Redis,
):
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    alice, bob = _fingerprints(worker, ["Mailbox of alice is full", "Mailbox of bob is full"])
    assert alice != bob  # two words, nothing known: split first
    backup = worker.fingerprint_message("Mailbox of svc_backup is full")
    assert backup.fingerprint == alice  # the event keeps the fingerprint handed out first
    assert backup.template == "Mailbox of <*> is full"
    assert worker.aliases() == {bob: alice}
    assert worker.fingerprint_message("Mailbox of zed is full").fingerprint == alice


def test_a_leading_name_joins_sibling_clusters_early(clean_redis: redis.Redis):
    # A leading word is its own branch of drain3's prefix tree: one cluster per user.
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    lines = [f"{u} : TTY=pts/{n} ; PWD=/srv ; COMMAND=/bin/ls" for n, u in enumerate(USERS)]
    first = worker.fingerprint_message("www-data : TTY=pts/9 ; PWD=/srv ; COMMAND=/bin/ls")
    results = [worker.fingerprint_message(line) for line in lines]
    assert len({r.cluster_id for r in results}) > 1
    assert {r.fingerprint for r in results} == {first.fingerprint}


def test_names_learned_at_one_event_are_values_at_the_next(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    _fingerprints(worker, [f"Login failed for user {u}" for u in USERS[:3]])  # alice, bob, carol
    quota = _fingerprints(worker, [f"Quota of {u} exceeded on /home" for u in USERS[:3]])
    assert len(set(quota)) == 1  # no key, no name: the values were known from the logins


def test_words_with_no_evidence_still_name_different_events(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    _fingerprints(worker, [f"Session opened for user {u} on tty1" for u in USERS])
    pairs = [
        (
            "The redis service entered the running state",
            "The redis service entered the stopped state",
        ),
        ("proxy open through gateway HTTPS", "proxy open through gateway SOCKS5"),  # upper case
        ("Job rejected for lack of quota", "Job rejected for lack of memory"),  # ``for``: no key
    ]
    for one, other in pairs:
        assert worker.fingerprint_message(one).fingerprint != (
            worker.fingerprint_message(other).fingerprint
        ), (one, other)


def test_workers_and_a_restart_agree_and_a_new_worker_needs_no_lock(
    clean_redis: redis.Redis, monkeypatch
):
    workers = [Fingerprinter(clean_redis, namespace=NAMESPACE) for _ in range(2)]
    messages = [f"Mailbox of {u} is full" for u in ["alice", "bob", "svc_backup", *USERS]]
    messages += [f"Token issued by {u} for api" for u in USERS]
    handed = [workers[n % 2].fingerprint_message(m) for n, m in enumerate(messages)]
    assert {r.fingerprint for r in handed[2:8]} == {handed[0].fingerprint}  # bob's was split
    calls: list[str] = []
    restarted = Fingerprinter(clean_redis, namespace=NAMESPACE)
    monkeypatch.setattr(restarted, "redis", CountingRedis(clean_redis, calls))
    again = restarted.fingerprint_messages(messages)
    assert calls == ["pipeline"]  # the state in one round trip; every line known: no lock
    assert [r.own for r in again] == [workers[0].resolve_alias(r.own) for r in handed]
    assert {r.fingerprint for r in again} == {handed[0].fingerprint, handed[-1].fingerprint}
