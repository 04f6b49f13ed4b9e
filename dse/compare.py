"""Designs side by side: parameters, figures, per-kernel time, resources per SLR, what binds.

A design is named by where it lives (:func:`resolve`):

- ``FILE.parquet#ID``: the row ``ID`` of a result file (sweep shard, search, front, selected);
  the run's platform and model come from the first ``config.yaml`` found in the file's folder
  or above it (``results/pareto/front.parquet`` -> ``results/config.yaml``);
- ``ID``: the same, in the default files (``--results``) with the default config (``--config``);
- an export folder (``results/hls/<id>``) or its ``design.json``: the design with the
  ``platform.json`` and ``model.json`` written beside it.

So designs of different runs (boards, models) compare: each is re-evaluated, with its own
platform and model, by the model of this ``dse`` (one ``Model.evaluate(..., detail=True)`` call
per run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError

#: Figures listed per design (those a table or the export records; absent ones are skipped).
FIGURE_ROWS = (
    "feasible",
    "violation",
    "latency_ms",
    "latency_ms_hi",
    "images_per_s",
    "achieved_tops",
    "peak_fraction",
    "utilization",
    "binding",
    "bound",
    "quality_loss",
    "fmax_mhz",
    "dsp",
    "bram18",
    "uram",
    "lut",
    "util_dsp",
    "util_bram",
    "util_uram",
    "util_lut",
)


@dataclass
class Design:
    """One design to compare: its row, where it came from, and the run it belongs to."""

    name: str  #: as the user gave it
    row: dict[str, Any]
    source: str
    platform_raw: dict[str, Any]
    model_raw: dict[str, Any]
    platform_source: str


def _find_config(path: Path) -> Path | None:
    for folder in [path.parent, *path.parent.parents]:
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def _from_results(file: Path, design_id: str, config: Path | None, arg: str) -> Design:
    from dse.config import load_config
    from dse.store import read_table

    if not file.is_file():
        raise UserError("results file not found", file=str(file), key=arg,
                        allowed="FILE.parquet#DESIGN_ID of an existing result file")
    table = read_table(file, key=arg)
    if "design_id" not in table.columns:
        raise UserError("not a result table (no design_id column)", file=str(file), key=arg)
    hit = table[table["design_id"].astype(str) == design_id]
    if hit.empty:
        raise UserError("design not in the file", file=str(file), key=arg, value=design_id,
                        allowed="a design_id of one of its rows")
    config = config or _find_config(file)
    if config is None:
        raise UserError("no config.yaml beside the results file or above it", file=str(file),
                        key=arg, allowed="a file of a run folder (results/...), or --config")
    cfg = load_config(config)
    return Design(arg, hit.iloc[0].to_dict(), f"{file}#{design_id}", cfg.platform_raw,
                  cfg.model_raw, str(config))


def _from_export(path: Path, arg: str) -> Design:
    from dse.config import read_text

    folder = path if path.is_dir() else path.parent
    design_file = folder / "design.json" if path.is_dir() else path
    raw = {}
    for name, f in (("design", design_file), ("platform", folder / "platform.json"),
                    ("model", folder / "model.json")):
        if not f.is_file():
            raise UserError(f"exported design has no {f.name}", file=str(f), key=arg,
                            allowed="a folder dse export wrote (design.json, platform.json, "
                            "model.json)")
        try:
            raw[name] = json.loads(read_text(f))
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed JSON ({exc.msg})", file=str(f), key=arg) from None
        if not isinstance(raw[name], dict):
            raise UserError("expected a JSON object", file=str(f), key=arg)
    return Design(arg, raw["design"], str(design_file), raw["platform"], raw["model"],
                  str(folder / "platform.json"))


def resolve(arg: str, *, config: str | None, results: list[str]) -> Design:
    """The design an argument names (module docstring)."""
    path = Path(arg)
    if path.is_dir() or path.name == "design.json" or (path.suffix == ".json" and path.exists()):
        return _from_export(path, arg)
    if "#" in arg:
        file, _, design_id = arg.rpartition("#")
        return _from_results(Path(file), design_id, Path(config) if config else None, arg)
    for f in results:
        if not Path(f).is_file():
            continue
        from dse.store import read_table

        ids = read_table(f, columns=["design_id"], key="--results")["design_id"].astype(str)
        if (ids == arg).any():
            return _from_results(Path(f), arg, Path(config) if config else None, arg)
    looked = ", ".join(results) or "no files"
    raise UserError("unknown design (not an export folder, design.json or FILE.parquet#ID, and "
                    f"not in {looked})", value=arg,
                    allowed="a design_id of the results, FILE.parquet#ID, or an export folder")


def evaluate(designs: list[Design]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Re-evaluate the designs, each run's designs in one vectorised call.

    Returns:
        ``(rows, breakdown, resources)``: the designs' rows as this model gives them (one per
        design, in order, ``key`` = position), the per-kernel time per policy call and the
        resources per SLR (``key``, ``kernel``/``slr``... as ``dse.commands.plot.detail_frames``).
    """
    from dse.commands.plot import detail_frames
    from dse.model import Model
    from dse.platform import Platform
    from dse.plots.breakdown import kernel_classes
    from dse.results import batch_from_frame, results_frame
    from dse.workload import Workload

    rows, kernels, slrs = [None] * len(designs), [], []
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(designs):
        key = json.dumps([d.platform_raw, d.model_raw], sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        first = designs[members[0]]
        platform = Platform.from_mapping(first.platform_raw, source=first.platform_source)
        workload = Workload.from_mapping(first.model_raw)
        model = Model(platform, workload)  # runtime tiles as each row records them
        frame = pd.DataFrame([designs[i].row for i in members])
        frame["design_id"] = [str(k) for k in members]  # keys: duplicates stay apart
        batch = batch_from_frame(frame)
        res = model.evaluate(batch, detail=False)
        fresh = results_frame(model, batch, res, frame["design_id"].to_numpy())
        breakdown, resources = detail_frames(model, fresh)
        breakdown["kernel_class"] = breakdown["kernel"].map(kernel_classes(workload))
        for j, i in enumerate(members):
            extra = {k: v for k, v in designs[i].row.items() if k not in fresh.columns}
            rows[i] = {**extra, **fresh.iloc[j].to_dict(), "board": platform.name,
                       "model": workload.name, "cameras": workload.cameras}
        kernels.append(breakdown)
        slrs.append(resources)
    out = pd.DataFrame(rows)
    out["design_id"] = [str(d.row.get("design_id", d.name)) for d in designs]
    out["key"] = range(len(designs))
    breakdown = pd.concat(kernels, ignore_index=True)
    resources = pd.concat(slrs, ignore_index=True)
    breakdown["key"] = breakdown.pop("design_id").astype(int)
    resources["key"] = resources.pop("design_id").astype(int)
    return out, breakdown, resources


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v)


def comparison_table(
    designs: list[Design], rows: pd.DataFrame, breakdown: pd.DataFrame, resources: pd.DataFrame
) -> pd.DataFrame:
    """One row per item, one column per design: section, item, then the designs' values (text).
    Sections: ``design``, ``parameter``, ``figure``, ``kernel ms/call``, ``resources per SLR``
    and ``binds``. The ``differs`` column says whether the designs disagree on the item."""
    from dse.labels import design_label
    from dse.params import PARAM_NAMES

    heads = [f"{i + 1}: {design_label(r)}" for i, r in enumerate(rows.to_dict("records"))]
    items: list[tuple[str, str, list[str]]] = []

    def add(section: str, item: str, values: list[Any]) -> None:
        items.append((section, item, [_fmt(v) for v in values]))

    add("design", "design_id", list(rows["design_id"]))
    add("design", "source", [d.source for d in designs])
    add("design", "board", list(rows["board"]))
    add("design", "model", list(rows["model"]))
    add("design", "cameras", list(rows["cameras"]))
    if "selection" in rows.columns:
        add("design", "selection", [v if isinstance(v, str) else "" for v in rows["selection"]])
    for p in PARAM_NAMES:
        if p in rows.columns:
            add("parameter", p, list(rows[p]))
    for f in FIGURE_ROWS:
        if f in rows.columns:
            add("figure", f, list(rows[f]))
    ms = breakdown.pivot_table(index="kernel", columns="key", values="time_ms", aggfunc="sum",
                               sort=False).reindex(columns=range(len(rows)))
    order = ms.max(axis=1).sort_values(ascending=False).index
    for k in order:
        add("kernel ms/call", str(k), list(ms.loc[k]))
    res = resources.assign(f=resources["used"] / resources["available"].replace(0, np.nan))
    for (slr, r), g in res.groupby(["slr", "resource"], sort=False):
        by = g.set_index("key")
        vals = []
        for k in range(len(rows)):
            if k in by.index:
                u, a, f = by.loc[k, ["used", "available", "f"]]
                vals.append(f"{np.ceil(u):,.0f} / {np.floor(a):,.0f} ({f:.0%})")
            else:
                vals.append("–")
        items.append(("resources per SLR", f"{slr} {r}", vals))
    binds = []
    for r in rows.to_dict("records"):
        text = f"time: {r.get('bound', '–')}-bound; utilization: {r.get('binding', '–')}"
        if not r.get("feasible", True):
            text += f"; infeasible: {r.get('violation', '')}"
        binds.append(text)
    items.append(("binds", "what binds", binds))
    table = pd.DataFrame(
        [[s, it, *vals] for s, it, vals in items], columns=["section", "item", *heads]
    )
    table["differs"] = [len(set(vals)) > 1 for _, _, vals in items]
    return table


def markdown(table: pd.DataFrame) -> str:
    """The comparison as Markdown, one table per section; items that differ in bold."""
    designs = [c for c in table.columns if c not in ("section", "item", "differs")]
    out = []
    for section, g in table.groupby("section", sort=False):
        out += [f"## {section}", "", "| item | " + " | ".join(designs) + " |",
                "|---|" + "---|" * len(designs)]
        for r in g.to_dict("records"):
            item = f"**{r['item']}**" if r["differs"] and section != "design" else r["item"]
            cells = [str(r[d]).replace("|", "\\|") for d in designs]
            out.append(f"| {item} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


__all__ = ["Design", "comparison_table", "evaluate", "markdown", "resolve"]
