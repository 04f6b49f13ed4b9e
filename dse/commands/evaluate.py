"""dse evaluate: one design -> its figures, per-kernel breakdown and per-SLR resources as JSON."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from dse.config import decode_utf8, load_config
from dse.errors import UserError
from dse.model import BOUNDS
from dse.params import MAPPING_PARAMS
from dse.platform import RESOURCES
from dse.results import results_frame
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


def evaluate_design(cfg, design: dict, *, source: str = "--design") -> dict:
    """Evaluate one design mapping; return a JSON-ready dictionary.

    The mapper chooses the runtime tiles unless the design gives any ``tile_{m,n}_div_<class>``
    (then it runs exactly as given); the config's clock policy chooses the clock unless the
    design gives a ``clock_mhz`` (then it runs at that clock)."""
    own_clock = bool(design.get("clock_mhz"))
    model = cfg.model(mapper=not any(name in design for name in MAPPING_PARAMS),
                      clock=not own_clock)
    batch = design_batch([design], cfg.platform, file=source)
    res = model.evaluate(batch, detail=True)
    row = results_frame(model, batch, res, [str(design.get("design_id", "cli"))]).iloc[0]
    out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.to_dict().items()}
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
    return out


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    design = _parse_design(args.design)
    source = args.design[1:] if args.design.startswith("@") else "--design"
    json.dump(evaluate_design(cfg, design, source=source), sys.stdout, indent=2, default=str)
    print()
    return 0
