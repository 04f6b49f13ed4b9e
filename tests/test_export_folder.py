"""`dse export` replaces its output folder: no earlier selection left, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dse.export
from dse.commands.export import export_rows
from dse.errors import UserError
from tests.test_export import PLATFORM, make_design


def _folders(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if p.is_dir()}


def _leftovers(root: Path) -> list[str]:
    """Hidden temporary files or folders anywhere under root (what an export must not leave)."""
    return [str(p) for p in root.rglob(".*") if p.name.endswith(".tmp")]


def test_new_selection_replaces_the_earlier_one(tmp_path):
    out = tmp_path / "hls"
    export_rows([make_design(design_id="a"), make_design(design_id="b")], PLATFORM, out)
    assert _folders(out) == {"a", "b"}
    # the next run selects b and c: a's folder must go (it was left behind before), b is rewritten
    index = export_rows([make_design(design_id="b"), make_design(design_id="c")], PLATFORM, out)
    assert _folders(out) == {"b", "c"}
    on_disk = json.loads((out / "index.json").read_text())
    assert on_disk == index
    assert [d["design_id"] for d in on_disk["designs"]] == ["b", "c"]
    for entry in on_disk["designs"]:  # every file the index names exists, relative to out
        assert entry["files"] and all((out / f).is_file() for f in entry["files"])
    assert _leftovers(tmp_path) == []


def test_a_failure_midway_keeps_the_earlier_export(tmp_path, monkeypatch):
    out = tmp_path / "hls"
    export_rows([make_design(design_id="a")], PLATFORM, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = dse.export.export_design
    calls = []

    def dies_on_second(design, platform, out_dir, **kw):
        calls.append(design["design_id"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl-C while the second design is written
        return real(design, platform, out_dir, **kw)

    monkeypatch.setattr(dse.export, "export_design", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        export_rows([make_design(design_id="x"), make_design(design_id="y")], PLATFORM, out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the earlier export is untouched, x is not half there
    assert _leftovers(tmp_path) == []


def test_an_interrupted_export_in_an_earlier_run_is_replaced(tmp_path):
    # What the old in-place export left after SIGKILL: a design folder without its index.json,
    # a temporary file inside it. The next export replaces the whole folder.
    out = tmp_path / "hls"
    (out / "old").mkdir(parents=True)
    (out / "old" / "dse_config.h").write_text("// partial\n")
    (out / "old" / ".kernel.cpp.abc123.tmp").write_text("partial")
    export_rows([make_design(design_id="new")], PLATFORM, out)
    assert _folders(out) == {"new"}
    assert _leftovers(out) == []


@pytest.mark.parametrize(
    "foreign", ["notes.txt", "my_project/main.cpp", ".git/HEAD", "a/.git/HEAD"]
)
def test_a_folder_with_other_files_is_refused_not_deleted(tmp_path, foreign):
    out = tmp_path / "somewhere"
    (out / foreign).parent.mkdir(parents=True, exist_ok=True)
    (out / foreign).write_text("mine")
    (out / "a").mkdir(exist_ok=True)  # a design folder of an earlier export beside it
    (out / "a" / "design.json").write_text("{}")
    with pytest.raises(UserError, match="dse export did not write"):
        export_rows([make_design(design_id="a")], PLATFORM, out)
    assert (out / foreign).read_text() == "mine"
    assert _leftovers(tmp_path) == []


def test_a_parent_that_takes_no_new_folder_is_a_user_error(tmp_path, monkeypatch):
    # as a read-only parent folder for a normal user (root writes anyway, so it is simulated)
    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("dse.commands.export.tempfile.mkdtemp", refuse)
    (tmp_path / "hls").mkdir()
    with pytest.raises(UserError, match="cannot create a folder beside it .Permission denied"):
        export_rows([make_design(design_id="a")], PLATFORM, tmp_path / "hls")
