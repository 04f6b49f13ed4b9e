"""CI: `dse csim` on every design the default run exported (results/hls/*/).

Every check must pass: GEMMs bit-exact against numpy, every stage and output against the
emulation, PE steps exact, each GEMM call's cycles and the whole layer's within 10% of the model
(dse.csim.CYCLE_TOLERANCE; docs/kernel.md). tests/test_workflow.py runs the same checks on its
own exports.

Exit 0 when every check passed; 1 otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main(root: str = "results/hls") -> int:
    folders = sorted(p.parent for p in Path(root).glob("*/design.json"))
    if not folders:
        print(f"csim_exports: no exported design under {root}", file=sys.stderr)
        return 1
    failed = 0
    for folder in folders:
        proc = subprocess.run(["dse", "csim", str(folder)], capture_output=True, text=True)
        report = folder / "csim.json"
        if not report.is_file():
            print(proc.stdout + proc.stderr, file=sys.stderr)
            failed += 1
            continue
        checks = json.loads(report.read_text())["checks"]
        bad = sorted(c for c, ok in checks.items() if not ok)
        print(f"{folder.name}: " + ", ".join(f"{c} {'ok' if ok else 'FAILED'}"
                                             for c, ok in checks.items()))
        if bad:
            print(proc.stdout[-4000:], file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
