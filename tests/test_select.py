"""Design selection from a front (dse.select) and the ``dse select`` command."""

from __future__ import annotations

import pandas as pd
import pytest

from dse import cli, store
from dse.errors import UserError
from dse.select import select_designs

MIN2 = [("latency_ms", "min"), ("utilization", "min")]


def _front() -> pd.DataFrame:
    # A convex front. Normalised latency (x - 10)/90 and utilisation (u - 0.15)/0.75:
    #   a (0,    1)     b (.111, .467)   c (.222, .2)   d (.556, .067)   e (1, 0)
    # Distance to the extremes' line x + y = 1 is proportional to 1 - x - y:
    #   a 0, b .422, c .578, d .378, e 0  -> the knee is c.
    return pd.DataFrame(
        {
            "design_id": ["e", "c", "a", "d", "b"],  # not in id order on purpose
            "latency_ms": [100.0, 30.0, 10.0, 60.0, 20.0],
            "utilization": [0.15, 0.3, 0.9, 0.2, 0.5],
            "feasible": True,
        }
    )


def _all_designs() -> pd.DataFrame:
    extra = pd.DataFrame(
        {
            "design_id": ["z", "y"],
            "latency_ms": [70.0, 5.0],
            "utilization": [0.95, 1.4],
            "feasible": [True, False],
        }
    )
    return pd.concat([_front(), extra], ignore_index=True)


def _reasons(chosen: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(chosen["design_id"], chosen["selection"], strict=True))


def test_each_reason_on_a_hand_built_front():
    # knee c (see _front); fastest a (10 ms); under 60 ms (a, b, c, d qualify) the smallest
    # utilisation is d (0.2); named b is on the front, z only in all designs.
    chosen = select_designs(
        _front(),
        MIN2,
        {"latency_budget_ms": 60.0, "named": ["z", "b"]},
        all_designs=_all_designs(),
    )
    assert _reasons(chosen) == [
        ("c", "knee"),
        ("a", "fastest"),
        ("d", "smallest_under_budget"),
        ("b", "named"),
        ("z", "named"),
    ]
    assert chosen.loc[chosen["design_id"] == "z", "latency_ms"].item() == 70.0


def test_design_chosen_twice_appears_once_with_both_reasons():
    # Under 40 ms only a, b, c qualify: c has the lowest utilisation (0.3). The knee is taken
    # inside that region: normalised there a (0, 1), b (.5, .333), c (1, 0); 1 - x - y is
    # 0, .167, 0 -> b. a is the fastest and also named.
    chosen = select_designs(_front(), MIN2, {"latency_budget_ms": 40.0, "named": ["a", "a"]})
    assert _reasons(chosen) == [
        ("b", "knee"),
        ("a", "fastest,named"),
        ("c", "smallest_under_budget"),
    ]


def test_smallest_and_knee_may_coincide():
    # Under 25 ms: a (10, 0.9) and b (20, 0.5). Two points: both on the extremes' line, the
    # tie goes to the first (a); b has the lower utilisation.
    chosen = select_designs(_front(), MIN2, {"latency_budget_ms": 25.0})
    assert _reasons(chosen) == [("a", "knee,fastest"), ("b", "smallest_under_budget")]


@pytest.mark.parametrize("settings", [{}, {"latency_budget_ms": None}])
def test_without_a_budget_the_region_is_the_whole_front(settings):
    chosen = select_designs(_front(), MIN2, settings)
    assert _reasons(chosen) == [("c", "knee"), ("a", "fastest")]


def test_no_knee_when_nothing_meets_the_budget():
    # Why: a 5 ms budget that no front design (fastest is 10 ms) meets: no region of interest.
    chosen = select_designs(_front(), MIN2, {"latency_budget_ms": 5.0})
    assert _reasons(chosen) == [("a", "fastest")]


def test_quality_tier_bounds_every_reason_but_named():
    # Three objectives. a and b are fast but lossy (0.5), c, d, e keep quality (0.1). With the
    # bound 0.1 the tier is c, d, e: fastest c (30 ms); under 60 ms c and d, the smallest d; the
    # knee over (latency, utilisation) among c, d: two points, the first (c).
    front = _front().assign(quality_loss=[0.1, 0.1, 0.5, 0.1, 0.5])  # e c a d b
    obj = [*MIN2, ("quality_loss", "min")]
    chosen = select_designs(front, obj, {"latency_budget_ms": 60.0, "named": ["a"]},
                            quality_max=0.1)
    assert _reasons(chosen) == [("c", "knee,fastest"), ("d", "smallest_under_budget"),
                                ("a", "named")]
    # without the bound the lossy a is the fastest
    free = select_designs(front, obj, {"latency_budget_ms": 60.0})
    assert ("a", "fastest") in _reasons(free)


def test_selection_does_not_depend_on_row_order():
    settings = {"latency_budget_ms": 60.0, "named": ["e"]}
    expected = _reasons(select_designs(_front(), MIN2, settings))
    for seed in range(3):
        shuffled = _front().sample(frac=1.0, random_state=seed)
        assert _reasons(select_designs(shuffled, MIN2, settings)) == expected


def test_ties_go_to_the_smallest_design_id():
    # Three objectives make a latency tie possible on a front: q and p are both 10 ms, so
    # "fastest" goes to p ("p" < "q"). The knee ties too: normalised (latency has no spread)
    # q = (0, 0, 1) and p = (0, 1, 0) are both at distance 1 from the ideal, so again p.
    front = pd.DataFrame(
        {
            "design_id": ["q", "p"],
            "latency_ms": [10.0, 10.0],
            "utilization": [0.2, 0.3],
            "power_w": [5.0, 4.0],
        }
    )
    chosen = select_designs(front, [*MIN2, ("power_w", "min")], {})
    assert _reasons(chosen) == [("p", "knee,fastest")]


def test_unknown_named_design_is_a_user_error():
    # Why: "nope" is neither on the front nor among all designs; the error names the key and
    # the value and says where it looked.
    with pytest.raises(UserError) as info:
        select_designs(_front(), MIN2, {"named": ["nope"]}, all_designs=_all_designs())
    message = str(info.value)
    assert "select.named" in message and "'nope'" in message and "not in the results" in message


def test_named_design_off_the_front_needs_all_designs():
    # Why: z is only in the full results; without them it cannot be found.
    with pytest.raises(UserError, match="not in the results"):
        select_designs(_front(), MIN2, {"named": ["z"]})


def test_empty_front_selects_only_named():
    chosen = select_designs(_front().iloc[:0], MIN2, {"named": ["z"]}, all_designs=_all_designs())
    assert _reasons(chosen) == [("z", "named")]


def _config(tmp_path, select):
    """The shipped config with two objectives and the given select section."""
    import yaml

    from tests.conftest import CONFIG

    raw = yaml.safe_load(CONFIG.read_text())
    raw["platform"] = str(CONFIG.parent / raw["platform"])
    raw["model"] = str(CONFIG.parent / raw["model"])
    raw["objectives"] = [
        {"name": "latency_ms", "direction": "min"},
        {"name": "utilization", "direction": "min"},
    ]
    raw["select"] = select
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_select_command_round_trip(tmp_path):
    config = _config(tmp_path, {"latency_budget_ms": 60.0, "named": ["z"]})
    front_path, all_path = tmp_path / "front.parquet", tmp_path / "all.parquet"
    store.write_table(_front(), front_path, metadata={"platform": "u280"})
    store.write_table(_all_designs(), all_path)
    out = tmp_path / "selected.parquet"
    code = cli.main(
        [
            "select",
            "--config",
            config,
            "--in",
            str(front_path),
            "--all",
            str(all_path),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    chosen = store.read_table(out)
    assert _reasons(chosen) == [
        ("c", "knee"),
        ("a", "fastest"),
        ("d", "smallest_under_budget"),
        ("z", "named"),
    ]
    meta = store.read_metadata(out)
    assert meta["platform"] == "u280"
    assert meta["selected"]["z"] == "named"
    # the budget as applied: a number applies to every model; a, b, c, d meet 60 ms
    assert meta["budget"] == {"budget_ms": 60.0, "key": "select.latency_budget_ms (every model)",
                              "tier": 5, "within": 4}


def test_select_command_unknown_named_exits_2(tmp_path, capsys):
    config = _config(tmp_path, {"named": ["nope"]})
    front_path = tmp_path / "front.parquet"
    store.write_table(_front(), front_path)
    out = tmp_path / "selected.parquet"
    code = cli.main(["select", "--config", config, "--in", str(front_path), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "select.named" in err and "not in the results" in err
    assert not out.exists()


def test_knee_uses_log_scale_for_objectives_spanning_decades():
    # latency 0.1, 0.15, 1, 30, 100 s against utilisation 0.5, 0.3, 0.25, 0.05, 0.04 (spans < 10x,
    # stays linear). Normalised, the knee is the largest 1 - x - y (distance to the line from
    # (0, 1) to (1, 0)); utilisation y = (1, 0.565, 0.457, 0.022, 0).
    # Linear latency x = (0, 0.0005, 0.009, 0.30, 1): 1 - x - y = 0, 0.43, 0.53, 0.68, 0 -> the
    #   30 s design, deep in the slow tail.
    # log10 latency x = (0, 0.059, 0.333, 0.826, 1): 1 - x - y = 0, 0.38, 0.21, 0.15, 0 -> the
    #   0.15 s design.
    import numpy as np

    from dse.pareto import knee_index
    from dse.select import knee_scale

    pts = np.array([[0.1, 0.5], [0.15, 0.3], [1.0, 0.25], [30.0, 0.05], [100.0, 0.04]])
    assert knee_index(pts) == 3
    assert knee_index(knee_scale(pts)) == 1


def test_tier_front_when_the_front_holds_no_tier_design():
    # Two objectives leave quality out: the lossy a and b dominate the front. With the bound
    # 0.1 none of them is in the tier, so selection takes the tier's own front (c, d, e, all
    # mutually non-dominated in latency/utilisation); with a tier design on the front, the
    # front stays as it is.
    from dse.select import tier_front

    designs = _front().assign(quality_loss=[0.1, 0.1, 0.5, 0.1, 0.5])  # e c a d b
    lossy_front = designs[designs["design_id"].isin(["a", "b"])]
    got = tier_front(lossy_front, MIN2, 0.1, designs)
    assert sorted(got["design_id"]) == ["c", "d", "e"]
    mixed = designs[designs["design_id"].isin(["a", "c"])]
    assert tier_front(mixed, MIN2, 0.1, designs) is mixed


def test_latency_budget_per_model():
    from dse.select import latency_budget

    assert latency_budget({"latency_budget_ms": 150.0}, "any") == (
        150.0, "select.latency_budget_ms (every model)")
    per = {"latency_budget_ms": {"smolvla_vision": 150.0, "default": 400.0}}
    assert latency_budget(per, "smolvla_vision") == (
        150.0, "select.latency_budget_ms.smolvla_vision")
    assert latency_budget(per, "deit_s") == (400.0, "select.latency_budget_ms.default")
    ms, why = latency_budget({"latency_budget_ms": {"smolvla_vision": 150.0}}, "deit_s")
    assert ms is None and "no budget for deit_s" in why
    assert latency_budget({}, "x")[0] is None


def test_per_model_budget_in_select_designs():
    # the mapping is looked up by the model's name: 60 ms for "m" -> as in the hand-built case
    # (smallest under 60 ms is d); another model has no budget -> no smallest_under_budget.
    settings = {"latency_budget_ms": {"m": 60.0}}
    chosen = select_designs(_front(), MIN2, settings, model="m")
    assert ("d", "smallest_under_budget") in _reasons(chosen)
    other = select_designs(_front(), MIN2, settings, model="other")
    assert "smallest_under_budget" not in set(other["selection"])


def test_budget_report_names_the_nearest_designs():
    from dse.select import budget_report

    # 5 ms: no design of _front (10..100 ms) meets it; the nearest are the fastest three:
    # a 10 ms, b 20 ms, c 30 ms.
    rep = budget_report(_front(), 5.0, "select.latency_budget_ms.m")
    assert rep["within"] == 0 and rep["tier"] == 5
    assert [n["design_id"] for n in rep["nearest"]] == ["a", "b", "c"]
    assert rep["nearest"][0]["latency_ms"] == 10.0
    ok = budget_report(_front(), 60.0, "k")
    assert ok["within"] == 4 and "nearest" not in ok  # a, b, c, d


def test_summary_says_when_no_design_meets_the_budget():
    from dse.commands.summary import budget_lines

    rep = {"budget_ms": 5.0, "key": "select.latency_budget_ms.m", "tier": 5, "within": 0,
           "nearest": [{"design_id": "a", "latency_ms": 10.0, "utilization": 0.9,
                        "params": {"weight_precision": "INT8", "act_precision": "INT8",
                                   "compute_units": 3, "pe_m": 32, "pe_n": 4, "pe_k": 32,
                                   "clock_mhz": 250}}]}
    text = "\n".join(budget_lines(rep, "m"))
    assert "no design of the quality tier meets it" in text
    assert "`a` (INT8 3×32·4·32 @250): 10.0 ms per call, 90.0% of the fullest SLR" in text
    none = "\n".join(budget_lines({"budget_ms": None, "key": "no budget named"}, "m"))
    assert "none for m" in none
# ------------------------------------------------------------------ across the model's interval
def _with_intervals(fmax_lo: dict[str, float], latency_hi: dict[str, float] | None = None,
                    util_hi: dict[str, float] | None = None) -> pd.DataFrame:
    f = _front()
    f["clock_mhz"] = 250.0
    f["fmax_mhz_lo"] = f["design_id"].map(fmax_lo).fillna(300.0)
    f["latency_ms_hi"] = f["design_id"].map(latency_hi or {}).fillna(f["latency_ms"] * 1.1)
    f["utilization_hi"] = f["design_id"].map(util_hi or {}).fillna(f["utilization"] * 1.1)
    return f


def test_a_design_just_under_its_predicted_fmax_is_not_the_recommendation():
    # c is the knee of _front(); at 250 MHz it sits 1% under its predicted fmax (252.5), and
    # the fmax interval's low end (-7%: 234.8 MHz) is below its clock: it may not close.
    # Without c, the knee of a, b, d, e on latency_ms_hi and utilisation (both 1.1 x here, so
    # the normalised points are _front()'s): (0, 1) (.111, .467) (.556, .067) (1, 0); distance
    # to x + y = 1 is 1 - x - y: b .422, d .378 -> b.
    front = _with_intervals({"c": 252.5 * 0.93})
    chosen = select_designs(front, MIN2, {})
    assert "c" not in set(chosen["design_id"])
    assert _reasons(chosen)[0] == ("b", "knee")
    assert chosen["robust"].all()


def test_the_knee_is_taken_on_the_pessimistic_latency():
    # every design's latency_ms_hi is 1.1 x its latency except c's, which doubles (60 ms):
    # on the pessimistic latency c is dominated by d (60 ms at 0.2 utilisation) and b is the
    # knee, as in the previous test.
    front = _with_intervals({}, latency_hi={"c": 66.0})
    assert _reasons(select_designs(front, MIN2, {}))[0] == ("b", "knee")
    # without the interval columns the knee is c again (the hand calculation of _front)
    assert _reasons(select_designs(_front(), MIN2, {}))[0] == ("c", "knee")


def test_a_design_that_overflows_at_its_pessimistic_resources_is_not_chosen():
    # a is the fastest (10 ms) but at 0.9 utilisation; its pessimistic count (1.05) overflows
    front = _with_intervals({}, util_hi={"a": 1.05})
    chosen = select_designs(front, MIN2, {})
    assert ("b", "fastest") in _reasons(chosen) or ("b", "knee,fastest") in _reasons(chosen)
    assert "a" not in set(chosen["design_id"])


def test_when_no_design_is_robust_the_tier_is_kept_and_the_rows_say_so():
    front = _with_intervals(dict.fromkeys("abcde", 200.0))
    chosen = select_designs(front, MIN2, {})
    assert _reasons(chosen)[0] == ("c", "knee")
    assert not chosen["robust"].any()


def test_the_timing_margin_holds_even_when_no_design_fits_its_pessimistic_resources():
    # every design overflows at its pessimistic resources, but c is 1% under its fmax: the
    # resource filter is skipped (it would leave nothing), the timing margin still removes c
    front = _with_intervals({"c": 252.5 * 0.93}, util_hi=dict.fromkeys("abcde", 1.2))
    chosen = select_designs(front, MIN2, {})
    assert "c" not in set(chosen["design_id"])
    assert _reasons(chosen)[0] == ("b", "knee")


def test_energy_as_an_objective_moves_the_knee():
    # _front's latencies with energies per call (mJ) a 1000, b 190, c 145, d 118, e 100 (both
    # span exactly 10x: linear). Normalised latency x = (0, .111, .222, .556, 1), energy
    # y = (1, .1, .05, .02, 0): 1 - x - y = 0, .789, .728, .424, 0 -> the knee is b, where the
    # latency-utilisation knee is c (_front).
    front = _front()
    front["energy_mj"] = front["design_id"].map(
        {"a": 1000.0, "b": 190.0, "c": 145.0, "d": 118.0, "e": 100.0}
    )
    chosen = select_designs(front, [("latency_ms", "min"), ("energy_mj", "min")], {})
    assert ("b", "knee") in _reasons(chosen)
    assert ("c", "knee") in _reasons(select_designs(front, MIN2, {}))
