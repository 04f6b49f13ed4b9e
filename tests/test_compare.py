"""``dse compare``: designs of one run, of an export, and of runs on two boards, side by side.

The comparison re-evaluates every design; its figures must be the ones the runs wrote (same
model), the per-kernel times must add up to the latency per call, and the per-SLR figures to the
utilization the results record.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from dse.cli import main
from dse.store import read_table

ROOT = Path(__file__).resolve().parents[1]


def make_run(folder: Path, board: str) -> dict[str, Path]:
    """A small run (the tiny config's grid) on ``board``: sweep, front, selection, export; the
    config is written as results/config.yaml so FILE#ID finds it."""
    results = folder / "results"
    (results / "pareto").mkdir(parents=True)
    cfg = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    cfg["platform"] = str(ROOT / "configs" / "platforms" / f"{board}.yaml")
    cfg["model"] = str(ROOT / "configs" / "models" / "smolvla_vision.yaml")
    config = results / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    c = str(config)
    shard = str(results / "shard.parquet")
    front = results / "pareto" / "front.parquet"
    selected = results / "selected.parquet"
    assert main(["sweep", "--config", c, "--shard", "0/1", "--out", shard]) == 0
    assert main(["pareto", "--config", c, "--in", shard, "--out", str(front)]) == 0
    assert main(["select", "--config", c, "--in", str(front), "--out", str(selected)]) == 0
    assert main(["export", "--config", c, "--in", str(selected), "--out",
                 str(results / "hls")]) == 0
    return {"config": config, "front": front, "selected": selected, "hls": results / "hls"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    base = tmp_path_factory.mktemp("compare")
    return {board: make_run(base / board, board) for board in ("u280", "u250")}


def table_of(path: Path) -> dict[tuple[str, str], list[str]]:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    head = rows[0]
    n = len(head) - 3  # section, item, designs..., differs
    return {(r[0], r[1]): r[2:2 + n] for r in rows[1:]}


def test_two_designs_of_one_run(runs, tmp_path: Path, capsys) -> None:
    r = runs["u280"]
    front = read_table(r["front"])
    a, b = (str(front["design_id"].iloc[i]) for i in (0, -1))
    out_csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    args = ["compare", f"{r['front']}#{a}", f"{r['front']}#{b}", "--csv", str(out_csv),
            "--plot", str(png)]
    assert main(args) == 0
    md = capsys.readouterr().out
    assert "## kernel ms/call" in md and "## resources per SLR" in md and "what binds" in md
    t = table_of(out_csv)
    assert t[("design", "design_id")] == [a, b]
    for i, design_id in enumerate((a, b)):
        row = front[front["design_id"] == design_id].iloc[0]
        # the same model, so the Parquet's figure (4 significant digits in the table)
        assert float(t[("figure", "latency_ms")][i]) == pytest.approx(row["latency_ms"], rel=1e-3)
        # kernel times per call add up to the latency per call
        kernel_ms = [float(v[i]) for (s, _), v in t.items() if s == "kernel ms/call"
                     if v[i] != "–"]
        assert sum(kernel_ms) == pytest.approx(row["latency_ms"], rel=5e-3)
        # the fullest SLR's most used resource is the utilization
        fracs = [float(v[i].split("(")[1].rstrip("%)")) / 100 for (s, _), v in t.items()
                 if s == "resources per SLR"]
        assert max(fracs) == pytest.approx(row["utilization"], abs=0.006)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_export_folder_and_a_bare_id(runs, capsys, monkeypatch) -> None:
    r = runs["u280"]
    selected = read_table(r["selected"])
    design_id = str(selected["design_id"].iloc[0])
    other = str(read_table(r["front"])["design_id"].iloc[-1])
    monkeypatch.chdir(r["config"].parent.parent)  # bare ids: results/... of this folder
    assert main(["compare", f"results/hls/{design_id}", other]) == 0
    md = capsys.readouterr().out
    assert f"| design_id | {design_id} | {other} |" in md
    assert f"results/hls/{design_id}/design.json" in md


def test_designs_of_two_boards(runs, tmp_path: Path) -> None:
    a280, a250 = (str(read_table(runs[b]["selected"])["design_id"].iloc[0])
                  for b in ("u280", "u250"))
    out_csv = tmp_path / "c.csv"
    assert main(["compare", f"{runs['u280']['selected']}#{a280}",
                 str(runs["u250"]["hls"] / a250), "--csv", str(out_csv), "--out",
                 str(tmp_path / "c.md")]) == 0
    t = table_of(out_csv)
    assert t[("design", "board")] == ["u280", "u250"]
    # each board's own SLRs: the U280 has three, the U250 four (SLR3 only on the second)
    slr3 = [v for (s, item), v in t.items() if s == "resources per SLR" and item.startswith("SLR3")]
    assert slr3 and all(v[0] == "–" and v[1] != "–" for v in slr3)


@pytest.mark.parametrize(
    "design",
    ["no-such-id", "missing.parquet#g-1", "FRONT#g-not-there"],
)
def test_unknown_designs_are_one_line_errors(runs, capsys, design: str) -> None:
    front = str(runs["u280"]["front"])
    design = design.replace("FRONT", front)
    ok = f"{front}#{read_table(runs['u280']['front'])['design_id'].iloc[0]}"
    assert main(["compare", ok, design, "--results", front]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("dse compare: error:")


def test_needs_two_designs(runs, capsys) -> None:
    front = str(runs["u280"]["front"])
    assert main(["compare", f"{front}#x"]) == 2
    assert "two or more" in capsys.readouterr().err
