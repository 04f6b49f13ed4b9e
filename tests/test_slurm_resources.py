"""scripts/slurm_resources.py: benchmark files -> the Slurm profile's per-rule resources."""

from __future__ import annotations

import importlib.util
import re
import sys

import yaml

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "slurm_resources", ROOT / "scripts" / "slurm_resources.py"
)
slurm_resources = importlib.util.module_from_spec(_spec)
sys.modules["slurm_resources"] = slurm_resources  # its dataclass looks itself up there
_spec.loader.exec_module(slurm_resources)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(path, s, max_rss, cpu_time):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{s}\t0:00:00\t{max_rss}\t0\t0\t0\t0\t0\t0\t{cpu_time}\n")


def test_largest_figure_per_rule_with_the_margins(tmp_path):
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    bench(run1 / "sweep/shard-0.tsv", 130.0, 1000.0, 260.0)
    bench(run1 / "sweep/shard-1.tsv", 20.0, 1100.0, 10.0)
    bench(run2 / "sweep/shard-0.tsv", 100.0, 900.0, 50.0)
    bench(run1 / "select.tsv", 2.0, 100.0, 1.0)
    measured = slurm_resources.measure([run1, run2])
    assert set(measured) == {"sweep", "select"}
    sweep = measured["sweep"]
    # largest of the 3 sweep jobs: s 130 (shard-0, run 1), max_rss 1100 (shard-1), cores 260/130
    assert (sweep.jobs, sweep.seconds, sweep.max_rss_mb, sweep.cores) == (3, 130.0, 1100.0, 2.0)
    # by hand: 1.5 x 1100 = 1650 MB -> 7 steps of 256 = 1792; 3 x 130 s = 6.5 min -> 7; 2 cores
    assert slurm_resources.resources(sweep) == {"mem_mb": 1792, "runtime": 7, "threads": 2}
    # 1.5 x 100 MB and 3 x 2 s are under the floors: 512 MB, 5 minutes; 0.5 core -> 1 thread
    assert slurm_resources.resources(measured["select"]) == {
        "mem_mb": 512,
        "runtime": 5,
        "threads": 1,
    }
    blocks = yaml.safe_load(slurm_resources.profile_blocks(measured))
    assert blocks["set-resources"]["sweep"] == {"mem_mb": 1792, "runtime": 7}
    assert blocks["set-threads"] == {"select": 1, "sweep": 2}


def test_no_benchmark_files_is_a_one_line_error(tmp_path, capsys):
    assert slurm_resources.main([str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"slurm_resources: {tmp_path}: no benchmark files (*.tsv)"
    )


def test_profile_names_only_workflow_rules_and_sizes_every_benchmarked_rule():
    # a renamed or new rule must be resized from a new measurement, not fall to the defaults
    rules_text = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    rules = set(re.findall(r"^rule (\w+):", rules_text, flags=re.M))
    measured_rules = rules - {"search_quality"}  # an optional target: the default resources
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert set(profile["set-resources"]) == measured_rules
    assert set(profile["set-threads"]) == measured_rules
    assert set(profile["groups"]) <= rules
    # rules whose memory grows with the grid declare it themselves (workflow/rules/resources.smk)
    scaled = {"sweep", "pareto_sweep", "pareto", "plots", "explore"}  # explore: one shard
    for rule, res in profile["set-resources"].items():
        assert set(res) == ({"runtime"} if rule in scaled else {"mem_mb", "runtime"}), rule
        if rule not in scaled:
            assert res["mem_mb"] >= slurm_resources.MEM_FLOOR_MB, rule
        assert res["runtime"] >= slurm_resources.RUNTIME_FLOOR_MIN, rule
