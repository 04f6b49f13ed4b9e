"""A chosen design -> the files a Vitis HLS / v++ build consumes (one folder per design).

Files written by :func:`export_design`:

- ``dse_config.h``: tile sizes, PE factors, partition factors, ports per stream, element and
  accumulator types, clock; compiles with plain ``g++ -std=c++17``.
- ``kernel.cpp``: the tiled GEMM ``dse_gemm`` with this design's loop order, buffers, pragmas and
  one m_axi port per memory channel (HBM pseudo-channel or DDR bank) per stream, streams that
  share channels sharing their m_axi bundles; runs as a C simulation under g++.
- ``hls_config.cfg``: ``v++ -c --mode hls --config hls_config.cfg`` (Vitis unified flow) -> ``.xo``.
- ``link.cfg``: ``v++ --link --config link.cfg``: ``nk``, ``slr`` and one ``sp`` per port
  (``HBM[n]`` or ``DDR[n]``, as the board's design memory), exactly
  :func:`dse.allocation.channel_allocation`.
- ``design.json``: every parameter and predicted figure of the design row.
- ``schedule.json`` (when the run's model is given): every kernel call of one policy call in
  order, with shapes, runtime tiles, precisions, CUs, channels and the model's time of each
  (dse.schedule); its times add up to the design's ``latency_ms``.

Config key names were checked against AMD UG1399/UG1702 (``[hls]`` section: ``flow_target``,
``syn.file``, ``syn.top``, ``clock``, ``package.output.format``) and UG1393 (``[connectivity]``:
``nk``, ``slr``, ``sp``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.allocation import STREAMS, channel_allocation, cu_slrs, stream_ports
from dse.errors import UserError
from dse.params import KERNEL_CLASSES, PARAMS, PRECISIONS, UNIFORM_DEFAULTS
from dse.store import atomic_write_text

if TYPE_CHECKING:
    from dse.model import Model

#: Name of the HLS top function and kernel.
KERNEL = "dse_gemm"

#: C++ element type per precision (names from dse_config.h).
ELEMENT_TYPE = {"FP32": "float", "BF16": "bf16_t", "INT8": "std::int8_t", "INT4": "int4_t"}
INTEGER_PRECISIONS = frozenset({"INT8", "INT4"})

#: Port name prefix and C++ pointer type of each HBM stream.
PORT_PREFIX = {"weights": "w", "inputs": "a", "outputs": "c"}
_PORT_TYPE = {"weights": "const weight_t*", "inputs": "const act_t*", "outputs": "acc_t*"}
_TOP_PORT_TYPE = {
    "weights": "const dse::weight_t*",
    "inputs": "const dse::act_t*",
    "outputs": "dse::acc_t*",
}
_PORT_COUNT = {
    "weights": "dse::PORTS_WEIGHTS",
    "inputs": "dse::PORTS_INPUTS",
    "outputs": "dse::PORTS_OUTPUTS",
}

_TEMPLATES = Path(__file__).with_name("templates")


def export_design(
    design: Mapping[str, Any],
    platform: Mapping[str, Any],
    out_dir: Path,
    *,
    model: Model | None = None,
) -> list[Path]:
    """Write the HLS build inputs of one design into ``out_dir`` (created if missing).

    Args:
        design: one result row: every key of :data:`dse.params.PARAM_NAMES` (categoricals as
            strings), ``design_id`` and the predicted figures (``latency_ms``, ``dsp`` ...).
        platform: the platform YAML as a dict (keys ``part``, ``vitis_platform``,
            ``cu_slr_order``, ``design_memory`` and its ``memories`` entry).
        out_dir: destination folder.
        model: the run's model without a mapper (``Config.model(mapper=False)``); given, the
            folder also gets ``schedule.json``.

    Returns:
        The written files, in a fixed order.

    Raises:
        UserError: a parameter is missing or invalid, or the design does not fit the platform.
    """
    params, plat, ports = check_design(design, platform)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "dse_config.h": render_config_header(params, memory=plat["tag"]),
        "kernel.cpp": render_kernel(params),
        "hls_config.cfg": render_hls_config(params, plat),
        "link.cfg": render_link_config(params, plat, ports),
        "design.json": design_json(design),
    }
    if model is not None:
        from dse.schedule import build_schedule, schedule_json

        sched = build_schedule(params, model, ports, classes=engine_precisions(params)[2])
        texts["schedule.json"] = schedule_json(sched)
    written = []
    for name, text in texts.items():
        atomic_write_text(out / name, text)
        written.append(out / name)
    return written


# ---- inputs -------------------------------------------------------------------------------------


def check_design(
    design: Mapping[str, Any], platform: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, list[int]]]]:
    """Validate a design for export without writing anything.

    Returns:
        The normalised parameters, the platform fields used, and the channel allocation per CU.

    Raises:
        UserError: as :func:`export_design`.
    """
    params = design_params(design)
    plat = _platform_fields(platform)
    ports = channel_allocation(
        params,
        pseudo_channels=plat["channels"],
        channel_slrs=plat["channel_slrs"],
        cu_slr_order=plat["cu_slr_order"],
        tag=plat["tag"],
    )
    return params, plat, ports


def design_params(design: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise the design parameters (ints, bools, category strings) of one row."""
    where = f"design {design.get('design_id', '?')}"
    params: dict[str, Any] = {"design_id": str(design.get("design_id", "unnamed"))}
    for p in PARAMS:
        if (p.name not in design or _is_missing(design[p.name])) and p.name in UNIFORM_DEFAULTS:
            value = UNIFORM_DEFAULTS[p.name]  # optional per-class settings: uniform design
        elif p.name not in design or _is_missing(design[p.name]):
            raise UserError("design has no value", file=where, key=p.name)
        else:
            value = design[p.name]
        if p.kind == "cat":
            if str(value) not in p.choices:
                raise UserError(
                    "unknown value",
                    file=where,
                    key=p.name,
                    value=value,
                    allowed=", ".join(p.choices),
                )
            params[p.name] = str(value)
        elif p.kind == "bool":
            if not isinstance(value, bool | np.bool_) and value not in (0, 1):
                raise UserError("not a boolean", file=where, key=p.name, value=value)
            params[p.name] = bool(value)
        else:
            number = int(value) if isinstance(value, int | np.integer | float) else None
            if (
                number is None
                or number != value
                or number < p.low
                or (p.high is not None and number > p.high)
            ):
                bound = f"an integer in [{p.low}, {p.high}]" if p.high else f"an integer >= {p.low}"
                raise UserError("bad value", file=where, key=p.name, value=value, allowed=bound)
            params[p.name] = number
    for dim in "mnk":
        if params[f"tile_{dim}"] % params[f"pe_{dim}"]:
            raise UserError(
                f"tile_{dim} must be a multiple of pe_{dim}",
                file=where,
                key=f"tile_{dim}",
                value=params[f"tile_{dim}"],
                allowed=f"a multiple of {params[f'pe_{dim}']}",
            )
    return params


def _platform_fields(platform: Mapping[str, Any]) -> dict[str, Any]:
    """The platform keys the export needs, with one-line errors naming a missing key."""
    try:
        fields = {
            "part": str(platform["part"]),
            "vitis_platform": str(platform["vitis_platform"]),
            "cu_slr_order": [int(s) for s in platform["cu_slr_order"]],
        }
        kind = str(platform["design_memory"])
        mem = platform["memories"][kind]
        fields["tag"] = kind.upper()  # HBM or DDR: the bank name in sp=...
        fields["channels"] = int(mem["channels"])
        slr_of = [int(s) for s in mem["channel_slrs"]]
        fields["channel_slrs"] = slr_of * fields["channels"] if len(slr_of) == 1 else slr_of
    except KeyError as exc:
        raise UserError("platform config has no value", key=str(exc.args[0])) from None
    return fields


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


# ---- dse_config.h -------------------------------------------------------------------------------


def accumulator_type(weight_precision: str, act_precision: str) -> str:
    """``std::int32_t`` when both operands are integers, else ``float``."""
    both_int = {weight_precision, act_precision} <= INTEGER_PRECISIONS
    return "std::int32_t" if both_int else "float"


def render_config_header(params: Mapping[str, Any], *, memory: str = "HBM") -> str:
    """Text of ``dse_config.h`` for checked parameters (see :func:`design_params`); ``memory``:
    the board's design memory (``HBM`` or ``DDR``), named in a comment."""
    values = {
        k: params[k]
        for k in (
            "tile_m",
            "tile_n",
            "tile_k",
            "pe_m",
            "pe_n",
            "pe_k",
            "compute_units",
            "clock_mhz",
            "buffer_storage",
            "design_id",
            "weight_precision",
            "act_precision",
        )
    }
    ports = stream_ports(params)
    values.update(
        pc_weights=ports["weights"],
        pc_inputs=ports["inputs"],
        pc_outputs=ports["outputs"],
        memory_channels="HBM pseudo-channel" if memory == "HBM" else f"{memory} bank",
        sharing=_sharing_note(params),
    )
    w_engine, a_engine, classes = engine_precisions(params)
    values.update(weight_precision=w_engine, act_precision=a_engine)
    rows = [f'    {{"{c}", {tm}, {tn}, "{prec}"}},' for c, (tm, tn, prec) in classes.items()]
    values.update(
        num_classes=len(rows),
        class_rows="\n".join(rows),
        weight_type=ELEMENT_TYPE[w_engine],
        act_type=ELEMENT_TYPE[a_engine],
        acc_type=accumulator_type(w_engine, a_engine),
        double_pump=_cbool(params["double_pump"]),
        double_buffer=_cbool(params["double_buffer"]),
        uram_buffers=_cbool(params["buffer_storage"] == "uram"),
    )
    return _template("dse_config.h.in").substitute(values)


def engine_precisions(
    params: Mapping[str, Any],
) -> tuple[str, str, dict[str, tuple[int, int, str]]]:
    """The engine's widest weight and activation precisions and each class's runtime tile and
    precision (the same rules as dse.model: 'same' follows the default, tiles are divided and
    rounded down to a PE multiple, at least one PE step)."""
    classes: dict[str, tuple[int, int, str]] = {}
    for c in KERNEL_CLASSES:
        default = params["act_precision"] if c == "attention" else params["weight_precision"]
        prec = params.get(f"prec_{c}", "same")
        prec = default if prec == "same" else prec
        tm = max(
            params["pe_m"],
            params["tile_m"]
            // (params.get(f"tile_m_div_{c}", 1) * params["pe_m"])
            * params["pe_m"],
        )
        tn = max(
            params["pe_n"],
            params["tile_n"]
            // (params.get(f"tile_n_div_{c}", 1) * params["pe_n"])
            * params["pe_n"],
        )
        classes[c] = (tm, tn, prec)
    widest = {p: i for i, p in enumerate(PRECISIONS)}  # FP32 first: smaller index is wider
    w = min((classes[c][2] for c in KERNEL_CLASSES if c != "attention"), key=widest.get)
    a = min((params["act_precision"], classes["attention"][2]), key=widest.get)
    return w, a, classes


def _cbool(flag: bool) -> str:
    return "true" if flag else "false"


# ---- kernel.cpp ---------------------------------------------------------------------------------


def _sharing_note(params: Mapping[str, Any]) -> str:
    if not params.get("share_streams", False):
        return "each stream on its own channels"
    if params["share_weights"]:
        return "inputs and outputs share their channels and m_axi bundles"
    return "all streams share the CU's channels and m_axi bundles"


def port_names(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """m_axi argument names per stream: ``w0..``, ``a0..``, ``c0..`` (one per channel the stream
    uses, after stream sharing: dse.allocation.stream_ports)."""
    counts = stream_ports(params)
    return {s: [f"{PORT_PREFIX[s]}{j}" for j in range(counts[s])] for s in STREAMS}


def bundle_names(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """m_axi bundle (interface) of every argument: ``gmem_<arg>`` on its own, or ``gmem_s<j>``
    shared by the streams that share channel ``j`` of their CU (``share_streams``)."""
    names = port_names(params)
    bundles = {s: [f"gmem_{n}" for n in names[s]] for s in STREAMS}
    if params.get("share_streams", False):
        shared = ("inputs", "outputs") if params["share_weights"] else STREAMS
        for s in shared:
            bundles[s] = [f"gmem_s{j}" for j in range(len(names[s]))]
    return bundles


def render_kernel(params: Mapping[str, Any]) -> str:
    """Text of ``kernel.cpp`` for checked parameters (see :func:`design_params`)."""
    names = port_names(params)
    bundles = bundle_names(params)
    args = [f"{_TOP_PORT_TYPE[s]} {n}" for s in STREAMS for n in names[s]]
    signature = ",\n                         ".join([*args, "int M", "int K", "int N"])
    pragmas = [
        f"#pragma HLS INTERFACE mode=m_axi port={n} bundle={g} offset=slave"
        for s in STREAMS
        for n, g in zip(names[s], bundles[s], strict=True)
    ]
    pragmas += [f"#pragma HLS INTERFACE mode=s_axilite port={p}" for p in ("M", "K", "N", "return")]
    k_inner = params["dataflow"][-1] == "k"
    note = (
        "k innermost: a C tile stays on chip until its reduction is complete."
        if k_inner
        else "k is not innermost: partial sums live in C (accumulator type), read-modify-write."
    )
    values = {
        "design_id": params["design_id"],
        "dataflow": params["dataflow"],
        "dataflow_note": note,
        "part_a_m": params["pe_m"],
        "part_a_k": params["pe_k"],
        "part_b_k": params["pe_k"],
        "part_b_n": params["pe_n"],
        "part_c_m": params["pe_m"],
        "part_c_n": params["pe_n"],
        "dispatch": _dispatch_functions(names, partial_sums=not k_inner),
        "signature": signature,
        "interface_pragmas": "\n".join(pragmas),
        "buffer_pragmas": _buffer_pragmas(params),
        "loop_nest": _loop_nest(params["dataflow"], names),
    }
    return _template("kernel.cpp.in").substitute(values)


def _buffer_pragmas(params: Mapping[str, Any]) -> str:
    """ARRAY_PARTITION (cyclic, by PE factors) and BIND_STORAGE lines for the three tiles."""
    dims = {
        "a_buf": (params["pe_m"], params["pe_k"]),
        "b_buf": (params["pe_k"], params["pe_n"]),
        "c_buf": (params["pe_m"], params["pe_n"]),
    }
    lines = []
    for var, factors in dims.items():
        for dim, factor in enumerate(factors, start=1):
            if factor > 1:
                lines.append(
                    f"#pragma HLS ARRAY_PARTITION variable={var} type=cyclic "
                    f"factor={factor} dim={dim}"
                )
        lines.append(
            f"#pragma HLS BIND_STORAGE variable={var} type=ram_2p impl={params['buffer_storage']}"
        )
    return "\n".join(lines)


# (helper, its tile indices, index that picks the port, stream, buffer argument, size arguments,
#  call of the transfer function, comment)
_DISPATCH = (
    (
        "load_a_tile",
        "tm, tk",
        "tm",
        "inputs",
        "act_t a_buf[TILE_M][TILE_K]",
        "M, K",
        "load_a({port}, a_buf, tm * TILE_M, tk * TILE_K, M, K);",
        "A tile row tm is read from input port tm % PORTS_INPUTS.",
    ),
    (
        "load_b_tile",
        "tk, tn",
        "tn",
        "weights",
        "weight_t b_buf[TILE_K][TILE_N]",
        "K, N",
        "load_b({port}, b_buf, tk * TILE_K, tn * TILE_N, K, N);",
        "B tile column tn is read from weight port tn % PORTS_WEIGHTS.",
    ),
    (
        "load_c_tile",
        "tm, tn",
        "tm",
        "outputs",
        "acc_t c_buf[TILE_M][TILE_N]",
        "M, N",
        "load_c({port}, c_buf, tm * TILE_M, tn * TILE_N, M, N);",
        "Partial sums of C tile row tm are read back from output port tm % PORTS_OUTPUTS.",
    ),
    (
        "store_c_tile",
        "tm, tn",
        "tm",
        "outputs",
        "const acc_t c_buf[TILE_M][TILE_N]",
        "M, N",
        "store_c({port}, c_buf, tm * TILE_M, tn * TILE_N, M, N);",
        "C tile row tm is written to output port tm % PORTS_OUTPUTS.",
    ),
)


def _dispatch_functions(names: Mapping[str, list[str]], *, partial_sums: bool) -> str:
    """One small function per tile transfer that picks the m_axi port with a switch (C is read
    back only when partial sums live in C)."""
    blocks = []
    for func, indices, index, stream, buf, sizes, call, doc in _DISPATCH:
        if func == "load_c_tile" and not partial_sums:
            continue
        ports = names[stream]
        ptype = "const acc_t*" if func == "load_c_tile" else _PORT_TYPE[stream]
        idx = ", ".join(f"int {i}" for i in indices.split(", "))
        dims = ", ".join(f"int {d}" for d in sizes.split(", "))
        pointers = ", ".join(f"{ptype} {p}" for p in ports)
        lines = [f"/// {doc}", f"void {func}({idx}, {buf},", f"    {pointers}, {dims}) {{"]
        if len(ports) == 1:
            lines.append("  " + call.format(port=ports[0]))
        else:
            lines.append(f"  switch ({index} % {_PORT_COUNT[stream]}) {{")
            for j, p in enumerate(ports[1:], start=1):
                lines.append(f"    case {j}: " + call.format(port=p) + " break;")
            lines.append("    default: " + call.format(port=ports[0]) + " break;")
            lines.append("  }")
        lines.append("}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _loop_nest(dataflow: str, names: Mapping[str, list[str]]) -> str:
    """The three tile loops in ``dataflow`` order with each transfer hoisted as far out as its
    indices allow: A (m, k) and B (k, n) are loaded inside the deeper of their two loops; the C
    tile (m, n) is zeroed there and stored after the k loop when k is deeper, otherwise it is
    read back (partial sums), updated and written on every k step."""
    level = {d: i for i, d in enumerate(dataflow)}
    a_level = max(level["m"], level["k"])
    b_level = max(level["k"], level["n"])
    c_level = max(level["m"], level["n"])
    partial = level["k"] < c_level
    w, a, c = (", ".join(names[s]) for s in ("weights", "inputs", "outputs"))
    lines = []
    for depth, dim in enumerate(dataflow):
        pad = "  " * (depth + 1)
        lines.append(f"{pad}for (int t{dim} = 0; t{dim} < tiles_{dim}; ++t{dim}) {{")
        pad += "  "
        if a_level == depth:
            lines.append(f"{pad}load_a_tile(tm, tk, a_buf, {a}, M, K);")
        if b_level == depth:
            lines.append(f"{pad}load_b_tile(tk, tn, b_buf, {w}, K, N);")
        if c_level == depth and partial:
            lines.append(f"{pad}if (tk == 0) zero_c(c_buf);")
            lines.append(f"{pad}else load_c_tile(tm, tn, c_buf, {c}, M, N);")
        elif c_level == depth:
            lines.append(f"{pad}zero_c(c_buf);")
    lines.append("  " * 4 + "compute_tile(a_buf, b_buf, c_buf);")
    for depth in reversed(range(3)):
        pad = "  " * (depth + 1)
        if c_level == depth:
            lines.append(f"{pad}  store_c_tile(tm, tn, c_buf, {c}, M, N);")
        lines.append(f"{pad}}}")
    return "\n".join(lines)


# ---- Vitis configs ------------------------------------------------------------------------------


def render_hls_config(params: Mapping[str, Any], plat: Mapping[str, Any]) -> str:
    """``hls_config.cfg`` for ``v++ -c --mode hls`` (keys as in UG1399 "HLS Config File")."""
    return "\n".join(
        [
            f"# hls_config.cfg: HLS component of design {params['design_id']} (Vitis unified).",
            "# Run in this folder: v++ -c --mode hls --config hls_config.cfg --work_dir hls",
            "# (source paths below are relative to this folder).",
            f"part={plat['part']}",
            "",
            "[hls]",
            "flow_target=vitis",
            "syn.file=kernel.cpp",
            f"syn.top={KERNEL}",
            f"clock={params['clock_mhz']}MHz",
            "package.output.format=xo",
            f"package.output.file={KERNEL}.xo",
            "",
        ]
    )


def render_link_config(
    params: Mapping[str, Any], plat: Mapping[str, Any], ports: list[dict[str, list[int]]]
) -> str:
    """``link.cfg`` ``[connectivity]``: CU names, SLR per CU and one ``sp`` per m_axi argument
    onto ``HBM[n]`` or ``DDR[n]`` (arguments sharing a bundle name the same channel)."""
    cus = [f"{KERNEL}_{i + 1}" for i in range(params["compute_units"])]
    slrs = cu_slrs(len(cus), plat["cu_slr_order"])
    names = port_names(params)
    lines = [
        f"# link.cfg: {len(cus)} compute unit(s) of {KERNEL} for design {params['design_id']}.",
        f"# Run: v++ --link --platform {plat['vitis_platform']} --config link.cfg "
        f"--freqhz={params['clock_mhz']}MHz {KERNEL}.xo",
        f"# {plat['tag']} channels follow dse.allocation.channel_allocation (share_weights="
        f"{_cbool(params['share_weights'])}, share_streams="
        f"{_cbool(params.get('share_streams', False))}).",
        "[connectivity]",
        f"nk={KERNEL}:{len(cus)}:{','.join(cus)}",
    ]
    lines += [f"slr={cu}:SLR{slr}" for cu, slr in zip(cus, slrs, strict=True)]
    for cu, alloc in zip(cus, ports, strict=True):
        for stream in STREAMS:
            for port, pc in zip(names[stream], alloc[stream], strict=True):
                lines.append(f"sp={cu}.{port}:{plat['tag']}[{pc}]")
    return "\n".join(lines) + "\n"


# ---- design.json --------------------------------------------------------------------------------


def design_json(design: Mapping[str, Any]) -> str:
    """Every key of the design row as JSON (sorted keys; numpy scalars -> Python, NaN -> null)."""
    plain = {str(k): _plain(v) for k, v in design.items()}
    return json.dumps(plain, sort_keys=True, indent=2) + "\n"


def _plain(value: Any) -> Any:
    """A JSON-safe copy of ``value``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    try:  # pandas.NA / NaT
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _template(name: str) -> Template:
    return Template((_TEMPLATES / name).read_text(encoding="utf-8"))
