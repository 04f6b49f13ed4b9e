"""Model throughput: designs evaluated per second on one core, as JSON (median of runs, with a
numpy baseline measured in the same process). Same as `dse bench`; target >= 1,000,000/s.

    python benchmarks/model_throughput.py [--designs 1000000] [--runs 5]
"""

from __future__ import annotations

import sys

from dse.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
