"""What a user reads first: `dse --help`."""

from __future__ import annotations

import re

import pytest

from dse.cli import main


def test_help_says_what_dse_is_and_lists_a_run_in_order(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    head = out.split("\n\n")[1]  # the paragraph after the usage lines
    # a sentence for a user, ending with a full stop, not the module docstring of dse/cli.py
    assert head.startswith("Design-space exploration") and head.rstrip().endswith(".")
    assert "dse/commands" not in out and "``" not in out
    # the epilog lists the subcommands in the order the workflow's rules call them
    # (workflow/rules: roofline, sweep shards, pareto of the sweep, search, refine, pareto,
    # select, export, plots, explorer, summary, calibration)
    run = re.search(r"^  (roofline -> .*)$", out, re.MULTILINE)
    assert run is not None, out
    assert run.group(1).split(" -> ") == [
        "roofline", "sweep", "pareto", "search", "refine", "select", "export", "plot", "explore",
        "summary", "calibrate",
    ]
    assert "evaluate, bench, search-quality" in out
