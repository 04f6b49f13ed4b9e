"""Pareto fronts, hypervolume and knee points (dse.pareto) and the ``dse pareto`` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse import cli, store
from dse.errors import UserError
from dse.pareto import (
    HV_REFERENCE,
    front,
    front_mask,
    hypervolume,
    knee_index,
    normalise_for_hv,
    objective_matrix,
    objectives_from,
    reference_from,
)

MIN2 = [("latency_ms", "min"), ("utilization", "min")]


def _frame(rows: list[tuple[str, float, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["design_id", "latency_ms", "utilization", "feasible"])


# --- objectives ---------------------------------------------------------------------------------


def test_objectives_from_config_order_and_directions():
    # Why: the config lists objectives as dicts; the pairs keep config order.
    raw = {
        "objectives": [
            {"name": "latency_ms", "direction": "min"},
            {"name": "images_per_s", "direction": "max"},
        ]
    }
    assert objectives_from(raw) == [("latency_ms", "min"), ("images_per_s", "max")]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"objectives": [{"name": "latency_ms", "direction": "smallest"}]}, "objectives[0]"),
        ({"objectives": []}, "objectives"),
        ({"objectives": [{"name": "a"}, {"name": "a"}]}, "objectives"),
    ],
)
def test_objectives_from_rejects_bad_config(raw, key):
    # Why: errors must name the key path so the user can find the mistake.
    with pytest.raises(UserError, match=key.replace("[", r"\[")):
        objectives_from(raw)


def test_objective_matrix_negates_max_columns():
    # Why: every function works in minimisation form, so a "max" column is negated (and -0.0 is
    # folded to +0.0 so that equal vectors compare equal bit for bit).
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 5.0]})
    out = objective_matrix(frame, [("a", "min"), ("b", "max")])
    np.testing.assert_array_equal(out, [[1.0, 0.0], [2.0, -5.0]])
    assert not np.signbit(out[0, 1])


def test_objective_matrix_missing_column_is_a_user_error():
    with pytest.raises(UserError, match="not in the results.*'power_w'"):
        objective_matrix(pd.DataFrame({"a": [1.0]}), [("power_w", "min")])


# --- front --------------------------------------------------------------------------------------


def _brute_force_front(points: np.ndarray, eligible: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """O(n²) reference: non-dominated eligible rows, one per distinct vector (smallest id)."""
    n = len(points)
    mask = np.zeros(n, dtype=bool)
    for i in range(n):
        if not eligible[i]:
            continue
        dominated = any(
            eligible[j] and np.all(points[j] <= points[i]) and np.any(points[j] < points[i])
            for j in range(n)
        )
        twins = [j for j in range(n) if eligible[j] and np.array_equal(points[j], points[i])]
        mask[i] = not dominated and ids[i] == min(ids[j] for j in twins)
    return mask


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=0, max_value=40),
    k=st.integers(min_value=1, max_value=4),
)
def test_front_mask_matches_brute_force(data, n, k):
    # Why: the definition of the front is the O(n²) dominance check above; a small value range
    # makes duplicates and weak dominance frequent, shuffled ids make string order differ from
    # row order, and random infeasible rows must be ignored both as members and as dominators.
    values = data.draw(st.lists(st.integers(0, 3), min_size=n * k, max_size=n * k))
    feasible = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    directions = data.draw(st.lists(st.sampled_from(["min", "max"]), min_size=k, max_size=k))
    perm = data.draw(st.permutations(range(n)))
    frame = pd.DataFrame(np.array(values, dtype=float).reshape(n, k), columns=list("abcd")[:k])
    frame["design_id"] = [f"d{p:02d}" for p in perm]
    frame["feasible"] = feasible
    objectives = list(zip(frame.columns[:k], directions, strict=True))

    points = objective_matrix(frame, objectives)
    expected = _brute_force_front(points, np.array(feasible, dtype=bool), frame["design_id"].values)
    np.testing.assert_array_equal(front_mask(frame, objectives), expected)


def test_infeasible_design_is_never_on_the_front():
    # Why: "x" dominates every other design but is infeasible, so it is dropped and must not
    # knock out the feasible designs it dominates; "y" (feasible missing) counts as infeasible.
    frame = _frame(
        [
            ("x", 1.0, 0.1, False),
            ("a", 10.0, 0.5, True),
            ("b", 20.0, 0.3, True),
            ("c", 30.0, 0.6, True),  # dominated by b
            ("y", 2.0, 0.2, None),
        ]
    )
    assert front_mask(frame, MIN2).tolist() == [False, True, True, False, False]


def test_all_infeasible_gives_an_empty_front():
    frame = _frame([("a", 1.0, 0.1, False), ("b", 2.0, 0.05, False)])
    assert not front_mask(frame, MIN2).any()
    assert front(frame, MIN2).empty


def test_ties_keep_the_smallest_design_id_whatever_the_row_order():
    # Why: three designs with identical objectives; the rule keeps the smallest id ("a"), so
    # concatenating shards in a different order cannot change the front.
    frame = _frame(
        [("c", 5.0, 0.5, True), ("a", 5.0, 0.5, True), ("b", 5.0, 0.5, True), ("z", 9.0, 0.9, True)]
    )
    for seed in range(3):
        shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        assert front(shuffled, MIN2)["design_id"].tolist() == ["a"]


def test_missing_objective_value_is_never_on_the_front():
    # Why: a NaN latency cannot be compared; the row is ineligible rather than "best".
    frame = _frame([("a", np.nan, 0.1, True), ("b", 2.0, 0.5, True)])
    assert front_mask(frame, MIN2).tolist() == [False, True]


def test_front_is_sorted_by_objectives():
    frame = _frame([("b", 20.0, 0.3, True), ("a", 10.0, 0.5, True), ("c", 5.0, 0.9, True)])
    assert front(frame, MIN2)["design_id"].tolist() == ["c", "a", "b"]


# --- hypervolume --------------------------------------------------------------------------------


def test_hypervolume_2d_by_hand():
    # Front (1,3), (2,2), (3,1), reference (4,4). Slice the dominated region along x:
    #   x in [1,2): height 4 - 3 = 1  -> area 1
    #   x in [2,3): height 4 - 2 = 2  -> area 2
    #   x in [3,4): height 4 - 1 = 3  -> area 3
    # total 6. (2.5, 2.5) is dominated by (2,2) and adds nothing; (5, 0) does not dominate the
    # reference (5 > 4) and is ignored.
    points = np.array([[1, 3], [2, 2], [3, 1], [2.5, 2.5], [5, 0]], dtype=float)
    assert hypervolume(points, np.array([4.0, 4.0])) == pytest.approx(6.0)


def test_hypervolume_3d_by_hand():
    # Boxes up to the reference (2,2,2): A = (0,0,1) spans 2*2*1 = 4, B = (1,1,0) spans
    # 1*1*2 = 2, and they overlap in [1,2]^3 = 1. Union = 4 + 2 - 1 = 5.
    points = np.array([[0, 0, 1], [1, 1, 0]], dtype=float)
    assert hypervolume(points, np.array([2.0, 2.0, 2.0])) == pytest.approx(5.0)


def test_hypervolume_of_nothing_is_zero():
    # Why: no point strictly dominates the reference (one equals it in a coordinate).
    assert hypervolume(np.array([[4.0, 1.0]]), np.array([4.0, 4.0])) == 0.0
    assert hypervolume(np.empty((0, 2)), np.array([4.0, 4.0])) == 0.0


def test_normalised_reference_and_ratio_by_hand():
    # Front (0,10), (5,5), (10,0): ideal (0,0), nadir (10,10) -> normalised (0,1), (.5,.5), (1,0),
    # reference 1.1. Slicing along x: [0,.5) height .1 -> .05; [.5,1) height .6 -> .30;
    # [1,1.1) height 1.1 -> .11; total .46. Without the middle point: [0,1) height .1 -> .10,
    # [1,1.1) height 1.1 -> .11; total .21, so the ratio is .21/.46.
    pts = np.array([[0, 10], [5, 5], [10, 0], [8, 8]], dtype=float)  # (8,8) is dominated
    ref = reference_from(pts)
    np.testing.assert_array_equal(ref.ideal, [0, 0])
    np.testing.assert_array_equal(ref.nadir, [10, 10])
    np.testing.assert_array_equal(ref.reference, [HV_REFERENCE, HV_REFERENCE])
    assert ref.front_hypervolume == pytest.approx(0.46)
    assert ref.ratio(pts[[0, 2]]) == pytest.approx(0.21 / 0.46)
    assert ref.ratio(pts) == pytest.approx(1.0)
    np.testing.assert_allclose(
        normalise_for_hv(pts[:3], ref.ideal, ref.nadir), [[0, 1], [0.5, 0.5], [1, 0]]
    )


def test_reference_from_frame_uses_the_feasible_front():
    # Why: the infeasible (0, 0) and the dominated (30, 0.9) must not move ideal or nadir.
    frame = _frame(
        [
            ("a", 10.0, 0.5, True),
            ("b", 20.0, 0.3, True),
            ("x", 0.0, 0.0, False),
            ("c", 30.0, 0.9, True),
        ]
    )
    ref = reference_from(frame, MIN2)
    np.testing.assert_allclose(ref.ideal, [10.0, 0.3])
    np.testing.assert_allclose(ref.nadir, [20.0, 0.5])


def test_normalise_constant_objective_stays_finite():
    # Why: a front whose points agree in one objective has nadir == ideal there.
    out = normalise_for_hv(np.array([[1.0, 3.0]]), np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    np.testing.assert_array_equal(out, [[0.0, 0.5]])


# --- knee ---------------------------------------------------------------------------------------


def test_knee_2d_on_a_convex_front():
    # Normalised by /10: (0,1), (.1,.4), (.2,.2), (.4,.1), (1,0). The extremes' line is x + y = 1,
    # so the distance is (1 - x - y)/sqrt(2): 0, .5, .6, .5, 0 (times 1/sqrt 2). Largest: (2,2).
    points = np.array([[0, 10], [1, 4], [2, 2], [4, 1], [10, 0]], dtype=float)
    assert knee_index(points) == 2
    assert knee_index(points[::-1]) == 2  # order of the rows does not matter


def test_knee_2d_ignores_concave_bulge():
    # Why: (0.9, 0.9) is far from the line x + y = 1 but on the side away from the ideal point;
    # the knee is (0.3, 0.3), the only point on the ideal side.
    points = np.array([[0, 1], [0.3, 0.3], [0.9, 0.9], [1, 0]], dtype=float)
    assert knee_index(points) == 1


def test_knee_3d_is_closest_to_ideal():
    # Already in [0,1]: distances to the origin are sqrt(2) for the three corners and
    # sqrt(3 * 0.09) = 0.52 for (0.3, 0.3, 0.3).
    points = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0.3, 0.3, 0.3]], dtype=float)
    assert knee_index(points) == 3


def test_knee_single_point():
    assert knee_index(np.array([[3.0, 4.0]])) == 0


# --- command ------------------------------------------------------------------------------------


def test_pareto_command_writes_front_and_counts(tmp_path, monkeypatch):
    # Why: two shards; "x" is infeasible, "c" is dominated by "b", so the front is a and b.
    raw = {
        "objectives": [
            {"name": "latency_ms", "direction": "min"},
            {"name": "utilization", "direction": "min"},
        ]
    }
    monkeypatch.setattr("dse.commands.pareto.load_raw", lambda path: raw)
    shard0, shard1 = tmp_path / "s0.parquet", tmp_path / "s1.parquet"
    store.write_table(
        _frame([("a", 10.0, 0.5, True), ("x", 1.0, 0.1, False)]),
        shard0,
        metadata={"platform": "u280", "shard": 0},
    )
    store.write_table(
        _frame([("b", 20.0, 0.3, True), ("c", 30.0, 0.6, True)]),
        shard1,
        metadata={"platform": "u280", "shard": 1},
    )
    out = tmp_path / "pareto" / "front.parquet"
    code = cli.main(
        ["pareto", "--config", "c.yaml", "--in", str(shard0), str(shard1), "--out", str(out)]
    )
    assert code == 0
    assert store.read_table(out)["design_id"].tolist() == ["a", "b"]
    meta = store.read_metadata(out)
    assert meta["designs_read"] == 4
    assert meta["designs_feasible"] == 3
    assert meta["front_size"] == 2
    assert meta["platform"] == "u280" and "shard" not in meta  # only what all inputs agree on
    assert meta["objectives"] == raw["objectives"]


def test_pareto_command_missing_input_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "dse.commands.pareto.load_raw", lambda path: {"objectives": [{"name": "latency_ms"}]}
    )
    out = tmp_path / "front.parquet"
    code = cli.main(
        ["pareto", "--config", "c.yaml", "--in", str(tmp_path / "nope.parquet"), "--out", str(out)]
    )
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()
