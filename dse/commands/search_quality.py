"""``dse search-quality``: runs benchmarks/search_quality.py (the configured search as it ships,
against a cached best-known reference front, random search and a greedy walk)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HELP = ("hypervolume ratio of the configured search (warm start, islands, refinement) against a "
        "best-known reference front, vs random search and a greedy walk, as JSON")

#: The benchmark script this command runs (the repository's benchmarks/ folder).
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "search_quality.py"


def _benchmark() -> ModuleType:
    """Import benchmarks/search_quality.py by path (registered so worker processes can pickle)."""
    name = "dse_benchmarks_search_quality"
    if name in sys.modules:
        return sys.modules[name]
    if not SCRIPT.is_file():
        from dse.errors import UserError

        raise UserError("benchmark script not found (dse must run from a source checkout)",
                        file=str(SCRIPT))
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's own options (--config, --out, --plot, --seeds, --cache, ...)."""
    if SCRIPT.is_file():
        _benchmark().add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; it writes --out (and --plot) and prints the figures as JSON."""
    return _benchmark().run(args)
