"""dse evaluate: one design -> its figures, per-kernel breakdown and per-SLR resources as JSON.

The design is a JSON object of parameters, or ``@FILE`` naming one: a hand-written file of
parameters, or the ``design.json`` that ``dse export`` writes. An exported design carries its
predicted figures (and a ``hardware`` section, and the ``selection`` reasons) besides the
parameters: a file holding any result figure (``dse.results.FIGURES``) is read as an export, its
parameters are what is evaluated, and its figures are compared with the new ones
(``export_check`` in the output; a line on stderr when they differ, e.g. after a model change).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from dse.config import decode_utf8, load_config
from dse.errors import UserError
from dse.model import BOUNDS
from dse.params import MAPPING_PARAMS, PARAM_NAMES
from dse.platform import RESOURCES
from dse.power import POWER_COLUMNS
from dse.results import FIGURES, results_frame
from dse.space import design_batch

HELP = "evaluate one design given as JSON and print its figures as JSON"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (configs/config.yaml)")
    p.add_argument(
        "--design",
        required=True,
        help="the design as a JSON object with every parameter, or @FILE.json",
    )


def _parse_design(text: str) -> dict:
    source = "--design"
    if text.startswith("@"):
        source = text[1:]
        try:
            with open(source, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise UserError(f"cannot read design file ({exc.strerror})", file=source) from None
        text = decode_utf8(raw, file=source)
    try:
        design = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON ({exc.msg} at column {exc.colno})", file=source) from None
    except RecursionError:
        raise UserError("not valid JSON (nested too deeply)", file=source) from None
    if not isinstance(design, dict):
        raise UserError(
            "expected a JSON object of parameter: value", file=source, value=type(design).__name__
        )
    return design


#: Figures compared between an exported design.json and its re-evaluation (numbers and text).
CHECKED = ("feasible", "violation", "latency_ms", "utilization", "dsp", "bram18", "uram", "lut",
           "fmax_mhz", "quality_loss", "bound")

#: Relative difference below which two figures agree (results are float32 inside the model).
RTOL = 1e-6


def split_export(design: dict) -> tuple[dict, dict]:
    """An object -> (parameters, recorded figures). Only an export (an object holding any of
    ``FIGURES``) has figures; its non-parameter keys are set aside, not rejected."""
    if not any(k in design for k in FIGURES):
        return design, {}
    params = {k: v for k, v in design.items() if k in PARAM_NAMES or k == "design_id"}
    return params, {k: v for k, v in design.items() if k not in params}


def export_check(recorded: dict, out: dict) -> dict:
    """The recorded figures of an export against the re-evaluated ones."""
    differs = {}
    for name in CHECKED:
        if name not in recorded or name not in out:
            continue
        was, now = recorded[name], out[name]
        if isinstance(was, (int, float)) and not isinstance(was, bool) and isinstance(
            now, (int, float)
        ):
            same = abs(float(now) - float(was)) <= RTOL * max(abs(float(was)), 1e-12)
        else:
            same = str(was) == str(now)
        if not same:
            differs[name] = {"recorded": was, "now": now}
    return {
        "recorded_model_version": recorded.get("model_version"),
        "model_version": out.get("model_version"),
        "matches": not differs,
        "differs": differs,
    }


def evaluate_design(cfg, design: dict, *, source: str = "--design") -> dict:
    """Evaluate one design mapping; return a JSON-ready dictionary.

    The mapper chooses the runtime tiles unless the design gives any ``tile_{m,n}_div_<class>``
    (then it runs exactly as given: an export records the mapping it ran with); the config's
    clock policy chooses the clock unless the design gives a ``clock_mhz`` (then it runs at that
    clock)."""
    design, recorded = split_export(design)
    own_clock = bool(design.get("clock_mhz"))
    model = cfg.model(mapper=not any(name in design for name in MAPPING_PARAMS),
                      clock=not own_clock)
    batch = design_batch([design], cfg.platform, file=source)
    res = model.evaluate(batch, detail=True)
    row = results_frame(model, batch, res, [str(design.get("design_id", "cli"))]).iloc[0]
    out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.to_dict().items()}
    for name in POWER_COLUMNS:  # n/a (JSON null) where the board file has no power: section
        if isinstance(out.get(name), float) and math.isnan(out[name]):
            out[name] = None
    out["kernels"] = [
        {
            "kernel": name,
            "time_ms": float(res.kernel_ms[0, i]),
            "bound": BOUNDS[res.kernel_bound[0, i]],
        }
        for i, name in enumerate(res.kernel_names)
    ]
    out["slr_resources"] = {
        slr: {
            r: {
                "used": float(np.ceil(res.slr_used[0, s, j])),
                "available": float(np.floor(cfg.platform.slr_available[s, j])),
            }
            for j, r in enumerate(RESOURCES)
        }
        for s, slr in enumerate(cfg.platform.slr_names)
    }
    if recorded:
        out["export_check"] = export_check(recorded, out)
    return out


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    design = _parse_design(args.design)
    source = args.design[1:] if args.design.startswith("@") else "--design"
    out = evaluate_design(cfg, design, source=source)
    json.dump(out, sys.stdout, indent=2, default=str)
    print()
    check = out.get("export_check")
    if check and not check["matches"]:
        names = ", ".join(check["differs"])
        print(
            f"dse evaluate: note: {source}: the recorded figures differ from this model's "
            f"({names}; recorded with model {check['recorded_model_version']}, now "
            f"{check['model_version']})",
            file=sys.stderr,
        )
    return 0
