"""How the shared fingerprint state folds keys: the values each position took, families
that join, routes that generalise (the rules of ``knowledge.logfinal``, applied forward-only;
see ``knowledge.fingerprint_family``). A mixin for ``SharedState``, kept apart so each file
holds one job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from knowledge.fingerprint_evidence import WORD as _WORD
from knowledge.fingerprint_evidence import SlotEvidence
from knowledge.fingerprint_family import FamilyIndex
from knowledge.logfinal import METHOD_TOKENS
from knowledge.logparse import MAX_WORD_VALUES, PARAM

FINGERPRINT_CHARS = 16


def template_fingerprint(template: str) -> str:
    """The fingerprint a template gets at first sight: sha1 of its text, 16 hex characters."""
    return hashlib.sha1(template.encode(), usedforsecurity=False).hexdigest()[:FINGERPRINT_CHARS]


def _key(family: int, words: Sequence[tuple[int, str]]) -> str:
    return f"{family}|" + " ".join(f"{pos}:{word}" for pos, word in words)


def _pairs(key: str) -> list[tuple[int, str]]:
    _, _, body = key.partition("|")
    return [(int(p), w) for p, w in (item.split(":", 1) for item in body.split())]


class KeyFolding:
    """Mixin for ``SharedState``: needs its ``keys``, ``cluster_keys``, ``position_values``,
    ``templates``, ``by_template``, ``aliases``, ``families``, ``drain``, ``resolve``,
    ``keyed_template`` and ``_alias``."""

    keys: dict[str, str]
    cluster_keys: dict[int, list[str]]
    position_values: dict[str, list[str]]
    templates: dict[str, str]
    by_template: dict[str, str]
    aliases: dict[str, str]
    families: FamilyIndex
    evidence: SlotEvidence
    drain: Any

    def _key_fingerprint(
        self, family: int, key: str, template: str, seed: str | None = None
    ) -> tuple[str, bool]:
        """The fingerprint a cluster key answers with, and whether it was made just now (a
        new key takes its template's existing fingerprint, else ``seed``, else the template's
        hash)."""
        fingerprint = self.keys.get(key)
        if fingerprint is not None:
            return fingerprint, False
        fingerprint = self.by_template.get(template) or seed or template_fingerprint(template)
        self.keys[key] = fingerprint
        self.cluster_keys.setdefault(family, []).append(key)
        self.by_template.setdefault(template, fingerprint)
        return fingerprint, True

    def _track(
        self, family: int, tokens: Sequence[str], template_tokens: Sequence[str]
    ) -> tuple[list[tuple[int, str]], bool, bool]:
        """The key's words and routes; whether the state changed; whether a position just
        took more than ``MAX_WORD_VALUES`` values or a route generalised (keys must fold)."""
        index = self.families
        changed = refold = False
        # Track the values each word position took (words, and the values beside them where
        # the template varies, as ``logfinal`` counts them); past MAX_WORD_VALUES it is a
        # parameter. A route names the event as a word does (``logfinal.route_keys``).
        kept: list[tuple[int, str]] = []
        for pos, tok in enumerate(tokens):
            if _WORD.fullmatch(tok):
                seen = self.position_values.setdefault(f"{family}:{pos}", [])
                if tok not in seen and len(seen) <= MAX_WORD_VALUES:
                    changed = True
                    refold = self._count(seen, tok, tokens, pos) or refold
                if len(seen) <= MAX_WORD_VALUES:
                    kept.append((pos, tok))
            elif pos and tokens[pos - 1] in METHOD_TOKENS:
                route = index.route_key(f"{family}:{pos}", tok)
                if route is None:
                    route, moved = index.add_route(f"{family}:{pos}", tok)
                    changed = True
                    refold = refold or moved
                kept.append((pos, route))
            elif template_tokens[pos] == PARAM:  # a value: it counts as one, as offline
                seen = self.position_values.setdefault(f"{family}:{pos}", [])
                if tok not in seen and len(seen) <= MAX_WORD_VALUES:
                    changed = True
                    refold = self._count(seen, tok, tokens, pos) or refold
        return kept, changed, refold

    def _count(self, seen: list[str], value: str, tokens: Sequence[str], pos: int) -> bool:
        """Count ``value`` at slot ``pos``; True when the slot just became a parameter
        (``knowledge.fingerprint_evidence``)."""
        return self.evidence.count(seen, value, tokens[pos - 1] if pos else None)

    def _count_constants(
        self, family: int, template_tokens: Sequence[str], before: Sequence[str]
    ) -> bool:
        """Where the template now varies, the tokens that stood there (the cluster's template
        before, its siblings' templates) were values too: count them, as ``logfinal`` counts
        every line's token. True when a position took more than ``MAX_WORD_VALUES``."""
        rows = [before] if before else []
        if family in self.families.roots:
            clusters = self.drain.id_to_cluster
            rows += [clusters[c].log_template_tokens for c in self.families.members(family)]
        over = False
        for pos, token in enumerate(template_tokens):
            if token != PARAM:
                continue
            for row in rows:
                value = row[pos] if len(row) == len(template_tokens) else PARAM
                if value == PARAM:
                    continue
                seen = self.position_values.setdefault(f"{family}:{pos}", [])
                if value not in seen and len(seen) <= MAX_WORD_VALUES:
                    over = self._count(seen, value, template_tokens, pos) or over
        return over

    def _set_template(self, own: str, template: str, new_aliases: dict[str, str]) -> None:
        """First sight, or drain3 generalised the cluster: the fingerprint stays, but when the
        new template is one another fingerprint already holds, the two are merged."""
        holder = self.by_template.setdefault(template, own)
        if holder != own and self.resolve(holder) != self.resolve(own):
            self._alias(own, holder, new_aliases)
        self.templates[own] = template

    def _refresh_templates(
        self, family: int, template_tokens: Sequence[str], new_aliases: dict[str, str]
    ) -> None:
        """Every key of the family shows today's template, set now under the lock, so a line
        of an older key is still answered by ``peek`` (no lock, no save) afterwards."""
        for other in self.cluster_keys.get(family, ()):
            fingerprint = self.keys[other]
            if fingerprint not in self.aliases:  # folded keys are history
                keyed = self.keyed_template(template_tokens, _pairs(other))
                if self.templates.get(fingerprint) != keyed:
                    self._set_template(fingerprint, keyed, new_aliases)

    def _move_family(
        self, source: int, target: int, length: int, new_aliases: dict[str, str]
    ) -> None:
        """Family ``source`` joined the earlier ``target``: its word values, routes and keys
        are ``target``'s (a key keeps its fingerprint; ``_refold`` merges keys that meet)."""
        for pos in range(length):
            words = self.position_values.pop(f"{source}:{pos}", None)
            if words:
                into = self.position_values.setdefault(f"{target}:{pos}", [])
                for word in words:
                    if word not in into and len(into) <= MAX_WORD_VALUES:
                        into.append(word)
        self.families.merge_routes(source, target, length)
        into_keys = self.cluster_keys.setdefault(target, [])
        for key in self.cluster_keys.pop(source, []):
            moved = _key(target, _pairs(key))
            fingerprint = self.keys.pop(key)
            if moved not in self.keys:
                self.keys[moved] = fingerprint
                into_keys.append(moved)
            else:  # the same event seen in both families: the earlier family's fingerprint
                self._alias(fingerprint, self.keys[moved], new_aliases)

    def _refold(
        self, family: int, template_tokens: Sequence[str], new_aliases: dict[str, str]
    ) -> None:
        """Words that became parameters, routes that generalised or families that joined:
        each older key of ``family`` folds into its key under today's values. A folded key
        made now takes the fingerprint of the first key folding into it (the event keeps the
        fingerprint handed out first); the others are aliased to it."""
        for key in list(self.cluster_keys.get(family, [])):
            pairs = _pairs(key)
            kept = []
            for pos, tok in pairs:
                slot = f"{family}:{pos}"
                if _WORD.fullmatch(tok):
                    if len(self.position_values.get(slot, ())) <= MAX_WORD_VALUES:
                        kept.append((pos, tok))
                else:
                    kept.append((pos, self.families.route_key(slot, tok) or tok))
            if kept == pairs:
                continue
            folded_key = _key(family, kept)
            template = self.keyed_template(template_tokens, kept)
            # The first key to fold lends its fingerprint: the event keeps the name it was
            # handed out under (its template generalises, as drain3's does), and later keys
            # are aliased to it. The lender's own key can never be met again (a parameter
            # stays one), so it is dropped rather than kept as history.
            own = self.keys[key]
            lend = self.resolve(own)  # what this key's lines are handed out (see below)
            folded, created = self._key_fingerprint(family, folded_key, template, lend)
            if folded == own:
                del self.keys[key]
                self.cluster_keys[family].remove(key)
                self._set_template(own, template, new_aliases)
                continue
            if created:
                self.templates.setdefault(folded, template)
            self._alias(own, folded, new_aliases)
