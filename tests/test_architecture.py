"""The one-way house: the import contracts in pyproject.toml hold (docs/architecture.md).

knowledge imports no app above it, remediation never the dashboard, nothing the simulator,
and the SDK nothing of the product. A new upward import fails this test, not a review.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_layer_imports_only_the_layers_below_it():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_no_application_file_grows_past_four_hundred_lines():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    application = [
        path
        for path in tracked
        if not path.startswith(("tests/", "benchmarks/")) and "/migrations/" not in path
    ]
    too_long = {
        path: lines
        for path in application
        if (lines := len((ROOT / path).read_text().splitlines())) > 400
    }

    assert too_long == {}
