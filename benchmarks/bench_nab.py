"""Anomaly detection quality on NAB, through the very detector the monitor agent uses (issue 5).

Runs ``manage.py nab_predict``'s function on ``NAB_DIR`` (default: ``../shared/data/nab``
beside the repository, else ``/work/shared/data/nab``) into a temporary folder, then the
independent scorer ``../shared/eval/nab_score.py``: first with the best threshold per profile
(NAB's convention, comparable with the published table), then at the fixed threshold the
monitor alarms at (``ALERT_SCORE``), which is the honest figure for unseen data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agents.management.commands.nab_predict import predict
from agents.monitor.detector import ALERT_SCORE

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def _resolve(env: str, relative: str, absolute: str) -> Path:
    """An explicit variable, else the shared folder beside this checkout, else /work/shared."""
    if os.environ.get(env):
        return Path(os.environ[env])
    beside = (ROOT / relative).resolve()
    return beside if beside.exists() else Path(absolute)


def main() -> None:
    nab_dir = _resolve("NAB_DIR", "../shared/data/nab", "/work/shared/data/nab")
    scorer = _resolve("NAB_SCORER", "../shared/eval/nab_score.py", "/work/shared/eval/nab_score.py")
    if not (nab_dir / "data").is_dir() or not scorer.is_file():
        print(f"skipped: NAB data ({nab_dir}/data) or scorer ({scorer}) not found; set NAB_DIR")
        return
    with tempfile.TemporaryDirectory(prefix="nab-pred-") as tmp:
        pred = Path(tmp) / "pred"
        started = time.perf_counter()
        files = predict(nab_dir / "data", pred, progress=False)
        print(f"scored {files} files in {time.perf_counter() - started:.1f}s")
        base = [sys.executable, str(scorer), "--nab", str(nab_dir), "--pred", str(pred)]
        print("best threshold per profile (NAB convention; published table uses this):")
        subprocess.run(base, check=True)
        thresholds = Path(tmp) / "thresholds.json"
        thresholds.write_text(json.dumps(dict.fromkeys(PROFILES, ALERT_SCORE)))
        print(f"fixed threshold ALERT_SCORE={ALERT_SCORE:.4f} (what the monitor alarms at):")
        subprocess.run([*base, "--thresholds", str(thresholds)], check=True)


if __name__ == "__main__":
    main()
