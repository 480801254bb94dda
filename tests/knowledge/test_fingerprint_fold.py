"""A slot that becomes a parameter folds its keys into the fingerprint lines were handed.

The first key to fold lends its fingerprint to the folded key. When that key was merged into
another fingerprint before (a provisional split's fingerprint adopted while a service's
header was learned, ``knowledge.fingerprint_headers``), its lines were handed out the one it
resolves to, so the folded key takes that one: the event keeps the fingerprint every one of
its lines got, rather than a new one (HaproxyLog's main event, 645 lines, got a fresh
fingerprint at its fifth route this way).
"""

from __future__ import annotations

from knowledge.fingerprint_state import SharedState

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def _mine(state: SharedState, word: str) -> tuple[str, str]:
    (fingerprint, _, _, own), _ = state.mine(f"queue {word} drained after the deploy", {})
    return fingerprint, own


def test_a_fold_keeps_the_fingerprint_the_first_key_was_handed_out_as():
    state = SharedState()
    _, first = _mine(state, WORDS[0])
    adopted = "0123456789abcdef"  # what the first key's lines resolved to before the fold
    state._alias(first, adopted, {})
    assert _mine(state, WORDS[0]) == (adopted, first)
    after = [_mine(state, word) for word in WORDS[1:]]
    assert len({own for _, own in after}) > 1  # split first: four words are not yet values
    assert after[-1] == (adopted, adopted)  # the fifth folds them, into the handed-out one
    assert {state.resolve(own) for _, own in after} == {adopted}
    assert _mine(state, WORDS[0]) == (adopted, adopted)
