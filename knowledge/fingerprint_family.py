r"""The second pass's rules (``knowledge.logfinal``), applied forward-only in the shared state.

Offline, once all lines are in, drain3 clusters that differ at one many-valued position (or
whose templates one covers the other) are one *family*, and a route segment that took many
values is a parameter. Online, lines arrive one at a time and a fingerprint, once handed out,
must keep its meaning. So the same rule functions run whenever the shared drain3 tree changes
(under the shared lock), and their verdicts only ever *join*:

- **Families.** When a cluster is created or its template changes, ``logfinal.families`` is
  asked about the clusters of that length. A cluster found in another's family joins the
  family that was seen first (the lowest cluster id, as ids only grow), and every later line
  of it is keyed by that family: a late sibling gets the family's existing fingerprint. Two
  families that the rule now joins become one, the later into the earlier, and keys whose
  fingerprints meet are merged by alias (``SharedState``), never re-pointed.
- **Routes.** The token after a quoted HTTP method names the event, as a word does, with the
  segments ``logfinal.route_keys`` finds many-valued read as ``<*>``. The routes seen at a
  family's position are kept (bounded: a route an existing ``<*>`` pattern already covers is
  not added), so every worker derives the same keys.
- **Values inside a route.** Before that, a part of a segment that holds a digit is read as
  ``<*>`` (``app.mmgv2ur1cy.js`` -> ``app.<*>.js``, ``by841izzyg.webp``), as the key already
  reads every token with a digit in a message: a value, never a word. Otherwise each of an
  asset's first ``MAX_WORD_VALUES`` hashed names is handed a fingerprint of its own before
  the segment generalises (HaproxyLog's static files, events of 652 and 93 lines, were handed
  5 and 4 fingerprints; NginxError's, 91 lines, 4). A name with a version number
  (``[A-Za-z]+\d+``: ``v1``, ``oauth2``) stays a name: ``/api/v1/`` and ``/api/v2/`` are
  routes, and every versioned route in the corpora has that shape.

The index is part of the state document; old documents (format 1) have none and read as
"every cluster its own family, no routes yet". Route slots saved before values inside routes
were read (no ``valued`` mark) keep their raw routes (``raw``), so the keys and fingerprints
they hold do not move on upgrade.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from knowledge.logfinal import families, route_keys
from knowledge.logmask import PARAM
from knowledge.logparse import MAX_WORD_VALUES

# A route segment's parts (split at its punctuation, which is kept) and the one shape of a
# part with a digit that is a name, not a value: letters then a number (``v1``, ``oauth2``).
_PARTS = re.compile(r"([^A-Za-z0-9<>*]+)")
_VERSIONED = re.compile(r"[A-Za-z]+\d+")
_DIGIT = re.compile(r"\d")


@functools.lru_cache(maxsize=1024)
def _part_pattern(segment: str) -> re.Pattern[str]:
    """A key's segment with values inside (``app.<*>.js``) as a pattern: each ``<*>`` stands
    for one part, letters or digits. A slot proven to hold values there holds them whatever
    their letters: a hashed name that happens to have no digit (``app.bfhqgsqatw.js``) is one
    more value, as a word beside a name is at a word slot (``fingerprint_evidence``)."""
    return re.compile(re.escape(segment).replace(re.escape(PARAM), "[A-Za-z0-9]+"))


def valued_route(route: str) -> str:
    """``route`` with each segment part that holds a digit read as ``<*>`` (module docstring)."""
    if not _DIGIT.search(route):
        return route  # most routes: no work
    return "".join(
        PARAM if _DIGIT.search(part) and not _VERSIONED.fullmatch(part) else part
        for part in _PARTS.split(route)
    )


class FamilyIndex:
    """drain3 cluster -> family, each family's template, and the routes seen per position."""

    def __init__(
        self,
        family: dict[int, int] | None = None,
        routes: dict[str, list[str]] | None = None,
        max_values: int = MAX_WORD_VALUES,
        raw: set[str] | None = None,
    ) -> None:
        self.max_values = max_values
        self.family: dict[int, int] = family or {}  # only clusters outside their own family
        self.roots = set(self.family.values())  # families of more than one cluster
        self.routes: dict[str, list[str]] = routes or {}  # "family:pos" -> routes seen
        self.raw: set[str] = raw or set()  # slots saved before routes' values were read
        self._tokens: dict[int, tuple[str, ...]] = {}  # family -> merged template (derived)
        self._route_maps: dict[str, tuple[dict[str, str], list[list[str]]]] = {}  # derived

    # -- families ------------------------------------------------------------------------------

    def family_of(self, cluster_id: int) -> int:
        return self.family.get(cluster_id, cluster_id)

    def members(self, family: int) -> list[int]:
        return [family] + [c for c, f in self.family.items() if f == family]

    def template_tokens(self, family: int, clusters: Mapping[int, Any]) -> tuple[str, ...]:
        """The family's template: its clusters' templates, ``<*>`` wherever they differ."""
        tokens = self._tokens.get(family)
        if tokens is None:
            rows = [clusters[c].log_template_tokens for c in self.members(family) if c in clusters]
            tokens = tuple(
                column[0] if len(set(column)) == 1 else PARAM for column in zip(*rows, strict=True)
            )
            self._tokens[family] = tokens
        return tokens

    def forget_template(self, cluster_id: int) -> None:
        """A member's drain3 template changed: its family's template is derived again."""
        self._tokens.pop(self.family_of(cluster_id), None)

    def join(
        self,
        cluster_id: int,
        clusters: Mapping[int, Any],
        early: Callable[[set[str], str | None], bool] | None = None,
    ) -> list[int]:
        """Apply ``logfinal.families`` to the clusters of ``cluster_id``'s length; the families
        it now joins with ``cluster_id``'s, later ones first, become the earliest one. Returns
        the families merged away (their keys must move; see ``SharedState``)."""
        length = len(clusters[cluster_id].log_template_tokens)
        same = {c: cl for c, cl in clusters.items() if len(cl.log_template_tokens) == length}
        verdict = families(same, set(same), self.max_values, early)
        root = verdict[cluster_id]
        joined = {self.family_of(c) for c, r in verdict.items() if r == root}
        if len(joined) < 2:
            return []
        first = min(joined)
        merged = sorted(joined - {first})
        for member, family in list(self.family.items()):
            if family in joined:
                self.family[member] = first
        for family in merged:
            self.family[family] = first
            self._tokens.pop(family, None)
            self.roots.discard(family)
        self.roots.add(first)
        self._tokens.pop(first, None)
        return merged

    # -- routes ---------------------------------------------------------------------------------

    def route_key(self, slot: str, route: str) -> str | None:
        """The key of ``route`` at ``slot`` (``family:pos``), or ``None`` if it is a new route.

        Read-only: a route seen before maps as ``route_keys`` says; an unseen one that a
        ``<*>`` pattern already covers takes that pattern (checked in the order they arose)."""
        if slot not in self.raw:
            route = valued_route(route)
        derived = self._route_maps.get(slot)
        if derived is None:
            seen = self.routes.get(slot)
            if not seen:
                return None
            derived = self._derive(slot)
        keys, patterns = derived
        key = keys.get(route)
        if key is not None or not patterns:
            return key
        segments = route.split("/")
        for pattern in patterns:
            if len(pattern) == len(segments) and all(
                p in (s, PARAM) or (PARAM in p and _part_pattern(p).fullmatch(s))
                for p, s in zip(pattern, segments, strict=True)
            ):
                return "/".join(pattern)
        return None

    def add_route(self, slot: str, route: str) -> tuple[str, bool]:
        """Record an unseen ``route``; its key, and whether an older route's key changed."""
        if slot not in self.raw:
            route = valued_route(route)
        before = dict(self._derive(slot)[0]) if slot in self.routes else {}
        self.routes.setdefault(slot, []).append(route)
        keys, _ = self._derive(slot)
        moved = any(keys[r] != k for r, k in before.items())
        return keys[route], moved

    def _derive(self, slot: str) -> tuple[dict[str, str], list[list[str]]]:
        seen = self.routes[slot]
        keys = route_keys(seen, self.max_values)
        patterns: list[list[str]] = []
        for route in seen:  # first-seen order: every worker checks patterns alike
            key = keys[route]
            if PARAM in key and key.split("/") not in patterns:
                patterns.append(key.split("/"))
        self._route_maps[slot] = (keys, patterns)
        return keys, patterns

    def merge_routes(self, source: int, target: int, length: int) -> None:
        """Family ``source`` joined ``target``: its routes are ``target``'s too."""
        for pos in range(length):
            source_slot, slot = f"{source}:{pos}", f"{target}:{pos}"
            seen = self.routes.pop(source_slot, None)
            was_raw = source_slot in self.raw
            self.raw.discard(source_slot)
            if seen:
                if was_raw and slot not in self.routes:
                    self.raw.add(slot)  # raw routes moving to an empty slot stay raw
                elif slot not in self.raw:
                    seen = [valued_route(route) for route in seen]
                into = self.routes.setdefault(slot, [])
                into.extend(route for route in seen if route not in into)
                self._route_maps.pop(slot, None)
            self._route_maps.pop(source_slot, None)

    # -- the state document -----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "family": {str(c): f for c, f in self.family.items()},
            "routes": self.routes,
            "valued": True,
            "raw": sorted(self.raw & self.routes.keys()),
        }

    @classmethod
    def load(cls, document: Mapping[str, Any]) -> FamilyIndex:
        saved = document.get("families") or {}
        routes = saved.get("routes", {})
        # Saved before values inside routes were read: every slot then keeps its raw routes.
        raw = set(saved.get("raw", ())) if saved.get("valued") else set(routes)
        family = {int(c): f for c, f in saved.get("family", {}).items()}
        return cls(family, routes, raw=raw)
