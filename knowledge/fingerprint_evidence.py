"""When a word slot is a parameter before it took many values (issue 15, point 3).

Online, a word position splits an event until it has shown more than ``MAX_WORD_VALUES``
values ("split first, merge later"): until then every new user name or status at it is handed
out a fingerprint of its own, merged away later by alias. An agent and the knowledge graph
see those early fingerprints first, so the shared state looks for evidence that a slot holds
values sooner. Each kind is general (no format's words), and each was measured on the
generated, hold-out and unseen formats and the Loghub systems (``benchmarks/
bench_online_ids.py``; figures in the branch's report):

- **Known values.** Words that varied at a slot proven a parameter (``param_words``): a slot
  whose values are all such words, or two of them (``VALUE_EVIDENCE``), is one. Proven
  includes the two kinds below, so the user names one event of a service showed are known
  values at the next.
- **Shape.** A slot that held a word and a *name* (``www-data``, ``svc_backup``,
  ``333vq001ou``: lower-case letters with a joiner or a digit) holds values: such a name is
  never a word, so the key already reads it as a value, and a word in its place is one too.
  Upper-case names are left out: ``SOCKS5`` beside ``HTTPS`` (Proxifier) and
  ``TURBO_STREAM`` beside ``HTML`` (Rails' formats) name different events.
- **The key before it.** A word right after ``user`` or ``by`` (``KEYS``) names who, not
  what, whatever the program: it is a value from its first sighting. The two are the only
  hand-set words here; each was measured on its own, and others were tried and rejected:
  ``for`` (BGL's ``warning for torus ...`` and ``warning for tree ...`` are two events, as
  are Android's ``callback for null`` and ``for <object>``), ``from`` (no gain), any token
  ending in ``:`` or ``=`` (merged events of the unseen formats). Keys *learned* from slots
  proven parameters (``for`` in one service, ``the`` in another) were measured too and left
  out: a closed-class word learned as a key (``the``, ``of``, ``in``) merges ``entered the
  running state`` with ``entered the stopped state``, and confirming a key in two templates
  first only delays that.

The same evidence joins sibling drain3 clusters early: where the prefix tree gave each value
its own branch (``user www-data logged out`` / ``user bob logged out``, a leading user name),
``logfinal.families`` joins the clusters' families once the values they hold at the one slot
are evidence (``siblings``), instead of after more than ``MAX_WORD_VALUES`` of them.

A slot made a parameter by a later value folds the keys handed out before it into the key
that holds the first one's fingerprint (``KeyFolding._refold``), so the event keeps the
fingerprint its first line was handed. Words not known to vary, in a slot after no key,
still split events (``running`` / ``stopped``, ``opened`` / ``closed``) until the slot took
more than ``MAX_WORD_VALUES``: a status slot seen for the first time in a new service is the
case this leaves open, since a state word is as often the event's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from knowledge.logparse import MAX_WORD_VALUES, PARAM

#: Known parameter values that make a position a parameter early.
VALUE_EVIDENCE = 2
#: Tokens after which a word is a value (see the docstring for those tried and rejected).
KEYS = frozenset({"user", "by"})

WORD = re.compile(r"[A-Za-z]+[.,:;]?")
# Lower-case letters with a joiner or a digit: ``www-data``, ``svc_backup``, ``web01``.
_NAME = re.compile(r"(?=[^a-z]*[a-z])(?=.*[-_\d])[A-Za-z\d][\w-]*[.,:;]?")


class SlotEvidence:
    """The learned part of the evidence: the values of slots proven parameters."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        self.words: set[str] = set(words)  # ``param_words`` in the state document

    def count(self, seen: list[str], value: str, before: str | None) -> bool:
        """Count a new ``value`` at a slot whose values so far are ``seen`` (``before``: the
        token just before it, if any); True when the slot just became a parameter.

        Past ``MAX_WORD_VALUES`` values a slot is a parameter. Before that, evidence makes it
        one at once: ``seen`` is then padded with ``""`` (never a token) to a parameter's
        length, so every reader (``peek``, ``_refold``, families) keeps the one "more than
        MAX values" test.
        """
        seen.append(value)
        if len(seen) <= MAX_WORD_VALUES:
            if not self._by_values(seen) and not self._after_key(seen, before):
                return False
            seen.extend([""] * (MAX_WORD_VALUES + 1 - len(seen)))
        self.words.update(v for v in seen if WORD.fullmatch(v))
        return True

    def siblings(self, varying: set[str], before: str | None) -> bool:
        """For ``logfinal.families``: whether the tokens sibling drain3 clusters hold at one
        slot (each its own branch of the prefix tree) show it is a parameter already."""
        values = sorted(v for v in varying if PARAM not in v)
        return len(values) > 1 and (self._by_values(values) or self._after_key(values, before))

    def _by_values(self, seen: Sequence[str]) -> bool:
        known = sum(1 for value in seen if value in self.words)
        if known == len(seen) or known >= VALUE_EVIDENCE:
            return True
        return any(_NAME.fullmatch(v) for v in seen) and any(WORD.fullmatch(v) for v in seen)

    def _after_key(self, seen: Sequence[str], before: str | None) -> bool:
        return before in KEYS and any(WORD.fullmatch(v) for v in seen)
