"""``dse evaluate --design @design.json`` reads the file ``dse export`` writes."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from dse.config import load_config
from dse.export import design_json
from dse.results import results_frame
from dse.space import design_batch
from tests.conftest import BASE_DESIGN, CONFIG


def _exported(tmp_path, **overrides):
    """A design.json as dse export writes it: the selected row (parameters, the mapping it ran
    with, every figure, ``selection``) plus a ``hardware`` section, in a file."""
    cfg = load_config(CONFIG)
    model = cfg.model()
    batch = design_batch([{**BASE_DESIGN, "weight_precision": "BF16", "prec_embed": "INT8",
                           "prec_proj": "INT8", "prec_mlp": "INT8"}], cfg.platform)
    row = results_frame(model, batch, model.evaluate(batch), ["s0-000000042"]).iloc[0].to_dict()
    row.update(selection="knee", hardware={"cu": {"pe": [16, 16, 16]}}, **overrides)
    path = tmp_path / "design.json"
    path.write_text(design_json(row))
    return path, row


def test_evaluate_accepts_an_exported_design(tmp_path, capsys):
    path, row = _exported(tmp_path)
    assert row["weight_precision"] == "INT8"  # written canonical: BF16 was used by no class
    code = main(["evaluate", "--config", str(CONFIG), "--design", f"@{path}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert res["design_id"] == "s0-000000042"
    # the same design under the same model: the exported figures come back
    assert res["latency_ms"] == pytest.approx(row["latency_ms"], rel=1e-9)
    assert res["utilization"] == pytest.approx(row["utilization"], rel=1e-9)
    assert res["export_check"]["matches"] is True
    assert "note" not in err


def test_evaluate_says_when_an_exports_figures_differ(tmp_path, capsys):
    # a stale export (recorded by another model version) is evaluated, and the difference named
    path, row = _exported(tmp_path, latency_ms=1.0, model_version="0.0.1")
    code = main(["evaluate", "--config", str(CONFIG), "--design", f"@{path}"])
    out, err = capsys.readouterr()
    assert code == 0
    check = json.loads(out)["export_check"]
    assert check["matches"] is False and set(check["differs"]) == {"latency_ms"}
    assert "latency_ms" in err and "0.0.1" in err


def test_a_hand_written_design_still_rejects_unknown_keys(capsys):
    design = {**BASE_DESIGN, "pe_mm": 3}
    code = main(["evaluate", "--config", str(CONFIG), "--design", json.dumps(design)])
    err = capsys.readouterr().err
    assert code == 2 and "pe_mm" in err
