"""The live path's grouping (issue 15, point 3): the shared ``Fingerprinter``'s ids, scored.

The offline figures (``bench_crossval``) mine a whole file and then regroup with all lines in
view (``knowledge.logfinal``). The agents never have that: each line goes through the shared,
Redis-backed ``Fingerprinter`` as it arrives, and its fingerprint names the Problem. Here every
Loghub system and every generated format is fed that way, one line at a time, under its own
namespace in Redis database ``BENCH_REDIS_DB`` (default 14), and the fingerprints are scored as
cluster ids with the shared scorer, beside the offline figures of the same lines (shipped
defaults, so both sides use the same constants).

Two online columns: ``handed`` is the fingerprint each line got when it arrived (what an agent
recorded then); ``merged`` is that fingerprint resolved through the aliases the Fingerprinter
recorded by the end of the stream (``resolve_alias``). The knowledge graph follows an alias
only when a later sighting carries the old fingerprint as its ``own``
(``knowledge.services.sightings``), so Problems opened under a fingerprint that no later line
gets (one folded or merged away) read as ``handed`` until something applies the aliases.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import redis
from django.conf import settings

from benchmarks import logformats
from benchmarks.logformat_holdout import HOLDOUT
from benchmarks.logformat_unseen import SCORED_AT, UNSEEN
from benchmarks.logformats import FORMATS
from knowledge.fingerprint import Fingerprinter
from knowledge.loghub import find_systems, read_lines
from knowledge.loghub_crossval import LABEL_SETS, load_scorer, mine_lines
from knowledge.logparse import MAX_WORD_VALUES, SIM_TH

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
#: offline; raw lines through ``fingerprint_line`` (handed, merged); the message field alone
#: through ``fingerprint_message``, as the agents call it (msg, msg+al: merged).
SIDES = ("offline", "handed", "merged", "msg", "msg+al")


def online_ids(
    client: redis.Redis, namespace: str, lines: Sequence[str], service: str, *, bare: bool = False
) -> tuple[list[str], list[str]]:
    """Fingerprints per line as handed out one line at a time, and as resolved at the end;
    ``bare``: the lines are messages without a header (``fingerprint_message``)."""
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    worker = Fingerprinter(client, namespace=namespace)
    one = worker.fingerprint_message if bare else worker.fingerprint_line
    handed = [one(line, service=service).fingerprint for line in lines]
    aliases = worker.aliases()

    def resolve(fingerprint: str) -> str:
        for _ in range(64):
            target = aliases.get(fingerprint)
            if target is None or target == fingerprint:
                break
            fingerprint = target
        return fingerprint

    merged = [resolve(f) for f in handed]
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    return handed, merged


def _score(scorer, data_dir: Path, labels: str, name: str, ids: Sequence) -> dict[str, float]:
    line_ids, groups, _, _ = scorer.load_truth(str(data_dir), labels, name)
    return scorer.grouping_metrics(groups, [ids[i - 1] for i in line_ids])


def score_folder(
    client: redis.Redis, scorer, data_dir: Path, names: Sequence[str], labels: str = "original"
) -> dict[str, dict[str, dict[str, float]]]:
    """``{name: {side: metrics}}`` for ``names`` under ``data_dir``; see ``SIDES``."""
    folder = data_dir / LABEL_SETS["original"]
    results = {}
    for name in names:
        lines = read_lines(folder / name / f"{name}_2k.log")
        offline = mine_lines(lines, sim_th=SIM_TH, max_word_values=MAX_WORD_VALUES)
        handed, merged = online_ids(client, f"bench:online:{name}", lines, name)
        results[name] = {
            side: _score(scorer, data_dir, labels, name, ids)
            for side, ids in (("offline", offline), ("handed", handed), ("merged", merged))
        }
        # As the agents call it: the message field alone (labelled lines, in order).
        _, groups, _, contents = scorer.load_truth(str(data_dir), labels, name)
        ns = f"bench:online-msg:{name}"
        by_message = online_ids(client, ns, contents, name, bare=True)
        for side, ids in zip(SIDES[3:], by_message, strict=True):
            results[name][side] = scorer.grouping_metrics(groups, ids)
    return results


def format_report(title: str, results: dict[str, dict[str, dict[str, float]]]) -> str:
    sides = SIDES
    out = [title, f"  {'system':<14}" + "".join(f" {s + ' GA':>11} {'FGA':>6}" for s in sides)]
    for name, by_side in results.items():
        out.append(
            f"  {name:<14}"
            + "".join(f" {by_side[s]['GA']:>11.3f} {by_side[s]['FGA']:>6.3f}" for s in sides)
        )
    n = len(results)
    out.append(
        f"  {'mean':<14}"
        + "".join(
            f" {sum(r[s]['GA'] for r in results.values()) / n:>11.3f}"
            f" {sum(r[s]['FGA'] for r in results.values()) / n:>6.3f}"
            for s in sides
        )
    )
    return "\n".join(out)


def main() -> None:
    logging.getLogger("knowledge.fingerprint").setLevel(logging.WARNING)  # merge notices
    url = urlunparse(urlparse(settings.REDIS_URL)._replace(path=f"/{BENCH_DB}"))
    client = redis.Redis.from_url(url)
    scorer_path = Path(
        os.environ.get("LOGHUB_GA_SCRIPT", ROOT.parent / "shared" / "eval" / "loghub_ga.py")
    )
    loghub_dir = Path(os.environ.get("LOGHUB_DIR", ROOT.parent / "shared" / "data" / "loghub"))
    if not scorer_path.is_file():
        print(f"Loghub scorer ({scorer_path}) not found: skipped")
        return
    scorer = load_scorer(scorer_path)
    print("offline = mined with all lines in view (shipped defaults); handed = the shared")
    print("Fingerprinter's fingerprint per raw line, one line at a time; merged = after its")
    print("aliases; msg / msg+al = the same with the labelled message alone (as agents call it)")
    if loghub_dir.is_dir():
        names = [name for name, _ in find_systems(loghub_dir)]
        for labels, folder in LABEL_SETS.items():
            labelled = [n for n in names if (loghub_dir / folder / n).is_dir()]
            results = score_folder(client, scorer, loghub_dir, labelled, labels)
            print(format_report(f"Loghub systems, labels {labels}:", results))
    unseen = f"Unseen formats (scored once at {SCORED_AT}; development figures since):"
    sets = (("Generated formats:", FORMATS), ("Hold-out formats:", HOLDOUT), (unseen, UNSEEN))
    for title, formats in sets:
        with tempfile.TemporaryDirectory(prefix="online-formats-") as out:
            names = logformats.write_corpus(Path(out), names=list(formats))
            print(format_report(title, score_folder(client, scorer, Path(out), names)))


if __name__ == "__main__":
    main()
