"""One design, one name: the canonical precisions (dse.canonical) and design labels (dse.labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dse.canonical import canonical, effective_codes, is_canonical
from dse.labels import design_label, precision_label
from dse.params import CLASS_PRECISIONS, KERNEL_CLASSES, PRECISIONS
from dse.results import results_frame
from tests.conftest import BASE_DESIGN, batch_of, concat


def _random_precisions(cfg, n: int, seed: int = 0):
    """``n`` copies of the base design with random engine and per-class precisions, and a few
    PE arrays and CU counts so that the engine width matters to resources and time."""
    rng = np.random.default_rng(seed)
    designs = []
    for _ in range(n):
        d = {
            "weight_precision": PRECISIONS[rng.integers(4)],
            "act_precision": PRECISIONS[rng.integers(4)],
            **{f"prec_{c}": CLASS_PRECISIONS[rng.integers(5)] for c in KERNEL_CLASSES},
            "pe_m": int(rng.choice([8, 16, 32])),
            "compute_units": int(rng.integers(1, 4)),
        }
        designs.append(batch_of(cfg, **d))
    return concat(designs)


def test_bf16_default_no_class_uses_becomes_int8(cfg):
    # The knee: BF16 weight default, every weight class INT8 -> nothing runs BF16, so the
    # canonical design is uniform INT8 (weight_precision = the widest class actually used).
    raw = batch_of(cfg, weight_precision="BF16", act_precision="INT8",
                   prec_embed="INT8", prec_proj="INT8", prec_mlp="INT8", prec_attention="INT8")
    c = canonical(raw)
    assert PRECISIONS[int(c["weight_precision"][0])] == "INT8"
    assert all(int(c[f"prec_{k}"][0]) == 0 for k in KERNEL_CLASSES)  # all 'same'
    assert not is_canonical(raw)[0] and is_canonical(c)[0]


def test_widest_class_sets_weight_precision(cfg):
    # embed BF16, proj INT8, mlp INT4 over an FP32 default: FP32 is unused; BF16 is the widest
    # weight class, so it becomes weight_precision and embed says 'same'.
    raw = batch_of(cfg, weight_precision="FP32", act_precision="INT8",
                   prec_embed="BF16", prec_proj="INT8", prec_mlp="INT4", prec_attention="BF16")
    c = canonical(raw)
    names = {k: CLASS_PRECISIONS[int(c[f"prec_{k}"][0])] for k in KERNEL_CLASSES}
    assert PRECISIONS[int(c["weight_precision"][0])] == "BF16"
    assert names == {"embed": "same", "proj": "INT8", "attention": "BF16", "mlp": "INT4"}
    # the effective precision of every class is unchanged
    before, after = effective_codes(raw), effective_codes(c)
    for k in KERNEL_CLASSES:
        assert before[k][0] == after[k][0]


def test_used_default_is_kept(cfg):
    # proj follows the BF16 default, so BF16 is used and stays; an override equal to the default
    # is spelled 'same'.
    raw = batch_of(cfg, weight_precision="BF16", prec_embed="BF16", prec_mlp="INT8")
    c = canonical(raw)
    assert PRECISIONS[int(c["weight_precision"][0])] == "BF16"
    assert CLASS_PRECISIONS[int(c["prec_embed"][0])] == "same"
    assert CLASS_PRECISIONS[int(c["prec_mlp"][0])] == "INT8"


def test_canonical_is_idempotent(cfg):
    b = _random_precisions(cfg, 200, seed=1)
    once = canonical(b)
    twice = canonical(once)
    for k in once:
        np.testing.assert_array_equal(once[k], twice[k])
    assert is_canonical(once).all()


def test_model_cannot_tell_a_design_from_its_canonical_form(cfg):
    # The independent check: the model reads weight_precision and prec_* itself. If any of its
    # figures (time, resources, clock, quality, feasibility) depended on a precision no class
    # uses, the two evaluations below would differ.
    model = cfg.model()
    b = _random_precisions(cfg, 300, seed=2)
    c = canonical(b)
    assert (~is_canonical(b)).sum() > 100  # the draw does exercise the normalisation
    r1, r2 = model.evaluate(b), model.evaluate(c)
    for name, v in r1.columns.items():
        np.testing.assert_array_equal(v, r2.columns[name], err_msg=name)
    f1 = results_frame(model, b, r1, [f"x{i}" for i in range(300)])
    f2 = results_frame(model, c, r2, [f"x{i}" for i in range(300)])
    pd.testing.assert_frame_equal(f1, f2)  # rows are written canonical whatever the spelling


def test_results_rows_carry_no_unused_precision(cfg):
    model = cfg.model()
    b = _random_precisions(cfg, 100, seed=3)
    frame = results_frame(model, b, model.evaluate(b), [f"x{i}" for i in range(100)])
    # weight_precision is the widest weight class's effective precision: never wider than all
    # of them (unused) and never narrower than one of them
    for _, row in frame.iterrows():
        eff = [row["weight_precision"] if row[f"prec_{c}"] == "same" else row[f"prec_{c}"]
               for c in ("embed", "proj", "mlp")]
        assert row["weight_precision"] == min(eff, key=PRECISIONS.index)


@pytest.mark.parametrize(
    ("overrides", "label"),
    [
        ({}, "INT8 3×16·16·16 @250"),
        ({"weight_precision": "BF16", "prec_embed": "INT8", "prec_proj": "INT8",
          "prec_mlp": "INT8"}, "INT8 3×16·16·16 @250"),
        ({"weight_precision": "BF16", "compute_units": 2, "pe_n": 4, "pe_k": 32, "clock_mhz": 300},
         "W BF16 A INT8 2×16·4·32 @300"),
        ({"prec_mlp": "INT4", "prec_attention": "BF16"},
         "INT8 (attn BF16, mlp INT4) 3×16·16·16 @250"),
    ],
)
def test_design_label(overrides, label):
    row = {**BASE_DESIGN, **overrides}
    assert design_label(row) == label


def test_label_of_a_parquet_row(cfg):
    model = cfg.model()
    b = batch_of(cfg, weight_precision="FP32", prec_embed="INT8", prec_proj="INT8", prec_mlp="INT8")
    row = results_frame(model, b, model.evaluate(b), ["x"]).iloc[0]
    assert precision_label(row) == "INT8"
    assert design_label(row).startswith("INT8 3×16·16·16")
