"""A chosen design -> the files a Vitis HLS / v++ build consumes (one folder per design).

Files written by :func:`export_design`:

- ``dse_config.h``: tile sizes, PE factors, partition factors, ports per stream, element and
  accumulator types, clock; compiles with plain ``g++ -std=c++17``.
- ``kernel.cpp``: the compute unit ``dse_gemm``: the tiled GEMM with this design's loop order,
  ping-pong buffers (``double_buffer``), runtime tiles per call, precision modes and fused
  epilogues (bias, GELU, residual; softmax when attention is fused), pragmas and one m_axi port
  per memory channel (HBM pseudo-channel or DDR bank) per stream, streams that share channels
  sharing their m_axi bundles; runs as a C simulation under g++.
- ``hls_config.cfg``: ``v++ -c --mode hls --config hls_config.cfg`` (Vitis unified flow) -> ``.xo``.
- ``link.cfg``: ``v++ --link --config link.cfg``: ``nk``, ``slr`` and one ``sp`` per port
  (``HBM[n]`` or ``DDR[n]``, as the board's design memory), exactly
  :func:`dse.allocation.channel_allocation`.
- ``design.json``: every parameter and predicted figure of the design row.
- ``vector.cpp``: the vector unit (``vector_lanes`` lanes: LayerNorm, softmax, GELU, residual
  add, pixel shuffle), called by ``dse_gemm`` for every op other than a GEMM.
- ``host.cpp``: the host program: XRT native API (loads the xclbin, places buffers per the
  channel allocation, runs ``schedule.txt`` for N images), or with ``-DDSE_CSIM`` the kernels as
  C++ functions with loop counters and operand dumps (the C-sim interface, README).
- ``platform.json``: the platform config the design was checked against.
- ``model.json`` (when the run's model mapping is given): the model config of the workload.
- ``schedule.json`` (when the run's model is given): every kernel call of one policy call in
  order, with shapes, runtime tiles, precisions, CUs, channels and the model's time of each
  (dse.schedule); its times add up to the design's ``latency_ms``.
- ``schedule.txt`` (with ``schedule.json``): the same calls in the flat form host.cpp reads,
  with the operand tensors of each (dse.hostsched).

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
_TEMPLATES = Path(__file__).with_name("templates")


def export_design(
    design: Mapping[str, Any],
    platform: Mapping[str, Any],
    out_dir: Path,
    *,
    model: Model | None = None,
    model_raw: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the HLS build inputs of one design into ``out_dir`` (created if missing).

    Args:
        design: one result row: every key of :data:`dse.params.PARAM_NAMES` (categoricals as
            strings), ``design_id`` and the predicted figures (``latency_ms``, ``dsp`` ...).
        platform: the platform YAML as a dict (keys ``part``, ``vitis_platform``,
            ``cu_slr_order``, ``design_memory`` and its ``memories`` entry).
        out_dir: destination folder.
        model: the run's model without a mapper (``Config.model(mapper=False)``); given, the
            folder also gets ``schedule.json`` and ``schedule.txt``.
        model_raw: the model mapping the workload was built from (``Config.model_raw``); given,
            the folder also gets ``model.json`` (what ``dse csim`` rebuilds a reduced model from).

    Returns:
        The written files, in a fixed order.

    Raises:
        UserError: a parameter is missing or invalid, or the design does not fit the platform.
    """
    params, plat, ports = check_design(design, platform)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    row_max = vector_row_max(model.workload) if model is not None else DEFAULT_VEC_ROW_MAX
    texts = {
        "dse_config.h": render_config_header(
            params, memory=plat["tag"], pipeline_fill=plat["pipeline_fill"], vec_row_max=row_max
        ),
        "kernel.cpp": render_kernel(params),
        "vector.cpp": render_vector(params),
        "host.cpp": _template("host.cpp.in").substitute(design_id=params["design_id"]),
        "hls_config.cfg": render_hls_config(params, plat),
        "link.cfg": render_link_config(params, plat, ports),
        "design.json": design_json(design),
        "platform.json": json.dumps(_plain(platform), sort_keys=True, indent=2) + "\n",
    }
    if model_raw is not None:
        texts["model.json"] = json.dumps(_plain(model_raw), sort_keys=True, indent=2) + "\n"
    if model is not None:
        from dse.hostsched import schedule_text
        from dse.schedule import build_schedule, schedule_json

        sched = build_schedule(params, model, ports, classes=engine_precisions(params)[2])
        texts["schedule.json"] = schedule_json(sched)
        texts["schedule.txt"] = schedule_text(sched, model.workload, params)
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
        fields["pipeline_fill"] = int(platform["logic"]["pipeline_fill_cycles"])
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


#: Longest vector-unit row without a workload to size it (smolVLA's pixel shuffle: 12288).
DEFAULT_VEC_ROW_MAX = 16384


def vector_row_max(workload: Any) -> int:
    """The longest row the vector unit must hold: every vector kernel's row, the pixel
    shuffle's output row (the connector's K) and a fused score row (the tokens)."""
    rows = [k.n for k in workload.kernels if k.kind != "gemm"]
    rows += [k.k for k in workload.kernels if k.name == "connector"]
    return max([workload.tokens, *rows])


def accumulator_type(weight_precision: str, act_precision: str) -> str:
    """``std::int32_t`` when both operands are integers, else ``float``."""
    both_int = {weight_precision, act_precision} <= INTEGER_PRECISIONS
    return "std::int32_t" if both_int else "float"


def render_config_header(
    params: Mapping[str, Any],
    *,
    memory: str = "HBM",
    pipeline_fill: int = 12,
    vec_row_max: int = 16384,
) -> str:
    """Text of ``dse_config.h`` for checked parameters (see :func:`design_params`); ``memory``:
    the board's design memory (``HBM`` or ``DDR``), named in a comment; ``pipeline_fill``: the
    platform's ``logic.pipeline_fill_cycles`` (what the model charges per tile);
    ``vec_row_max``: the longest row the vector unit holds (:func:`vector_row_max`)."""
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
    port_list = _port_list(params)
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
        bbuf_type=ELEMENT_TYPE[min(w_engine, a_engine, key=PRECISIONS.index)],
        dataflow=params["dataflow"],
        fuse_attention=_cbool(params["fuse_attention"]),
        vector_lanes=params["vector_lanes"],
        pipeline_fill=int(pipeline_fill),
        vec_row_max=int(vec_row_max),
        port_params=", ".join(f"{t} {n}" for t, n in port_list),
        port_args=", ".join(n for _, n in port_list),
        dispatch=_dispatch_functions(port_names(params)),
        scalar_params=", ".join(_SCALARS),
        bind_ports=" ".join(f"{t} {n} = ({n[0].upper()}); (void){n};" for t, n in port_list),
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


#: Scalar arguments of the top function (s_axilite), in order: a dse::Call gathered.
_SCALARS = (
    "int op", "int M", "int K", "int N", "int tile_m", "int tile_n", "int flags",
    "long a_off", "long b_off", "long c_off", "long r_off", "long bias_off", "long g_off",
    "int lda", "int ldb", "int ldc", "int ldr", "int row0", "int shuffle",
    "float deq", "float s_a", "float s_r", "float s_c", "float eps",
    "int mode_ab", "int mode_r", "int mode_c",
)  # fmt: skip


def _port_list(params: Mapping[str, Any], ns: str = "") -> list[tuple[str, str]]:
    """(C++ parameter type, name) of every m_axi port argument, weights, inputs, outputs;
    ``ns``: the types' namespace prefix (``dse::`` outside namespace dse)."""
    names = port_names(params)
    ptype = {
        "weights": f"const {ns}weight_t*",
        "inputs": f"const {ns}act_t*",
        "outputs": f"{ns}act_t*",
    }
    return [(ptype[s], n) for s in STREAMS for n in names[s]]


def render_kernel(params: Mapping[str, Any]) -> str:
    """Text of ``kernel.cpp`` for checked parameters (see :func:`design_params`)."""
    names = port_names(params)
    bundles = bundle_names(params)
    ports = _port_list(params, ns="dse::")
    args = [f"{t} {n}" for t, n in ports]
    args += ["const float* prm", "dse::acc_t* ps", *_SCALARS]
    signature = ",\n                         ".join(args)
    pragmas = [
        f"#pragma HLS INTERFACE mode=m_axi port={n} bundle={g} offset=slave"
        for s in STREAMS
        for n, g in zip(names[s], bundles[s], strict=True)
    ]
    # the float vectors (bias, LayerNorm) ride on the first weight channel, the partial sums on
    # the first output channel: no extra channel, as the model counts them
    pragmas.append(
        f"#pragma HLS INTERFACE mode=m_axi port=prm bundle={bundles['weights'][0]} offset=slave"
    )
    pragmas.append(
        f"#pragma HLS INTERFACE mode=m_axi port=ps bundle={bundles['outputs'][0]} offset=slave"
    )
    pragmas += [
        f"#pragma HLS INTERFACE mode=s_axilite port={s.split()[-1]}"
        for s in (*_SCALARS, "x return")
    ]
    k_inner = params["dataflow"][-1] == "k"
    note = (
        "k innermost: a C tile stays on chip until its reduction is complete."
        if k_inner
        else "k is not innermost: partial sums (accumulator type) spill to ps and are read "
        "back whenever k sits outside an iterating m or n loop."
    )
    buffering = (
        "double (ping-pong A, B and C tiles), as the model's overlap assumes."
        if params["double_buffer"]
        else "single (load, compute, store in turn), as the model's serial sum assumes."
    )
    values = {
        "design_id": params["design_id"],
        "dataflow": params["dataflow"],
        "dataflow_note": note,
        "buffering_note": buffering,
        "part_a_m": params["pe_m"],
        "part_a_k": params["pe_k"],
        "part_b_k": params["pe_k"],
        "part_b_n": params["pe_n"],
        "part_c_m": params["pe_m"],
        "part_c_n": params["pe_n"],
        "signature": signature,
        "interface_pragmas": "\n".join(pragmas),
        "buffer_pragmas": _buffer_pragmas(params),
        "port_args": ", ".join(n for _, n in ports),
    }
    return _template("kernel.cpp.in").substitute(values)


def render_vector(params: Mapping[str, Any]) -> str:
    """Text of ``vector.cpp`` (the vector unit) for checked parameters."""
    return _template("vector.cpp.in").substitute(
        design_id=params["design_id"], vector_lanes=params["vector_lanes"]
    )


def _buffer_pragmas(params: Mapping[str, Any]) -> str:
    """ARRAY_PARTITION (the two ping-pong halves apart; cyclic by PE factors) and BIND_STORAGE
    lines for the three tiles."""
    dims = {
        "a_buf": (params["pe_m"], params["pe_k"]),
        "b_buf": (params["pe_k"], params["pe_n"]),
        "c_buf": (params["pe_m"], params["pe_n"]),
    }
    lines = []
    for var, factors in dims.items():
        lines.append(f"#pragma HLS ARRAY_PARTITION variable={var} type=complete dim=1")
        for dim, factor in enumerate(factors, start=2):
            if factor > 1:
                lines.append(
                    f"#pragma HLS ARRAY_PARTITION variable={var} type=cyclic "
                    f"factor={factor} dim={dim}"
                )
        lines.append(
            f"#pragma HLS BIND_STORAGE variable={var} type=ram_2p impl={params['buffer_storage']}"
        )
    return "\n".join(lines)


# (function, stream, what picks the port, element pointer type, doc)
_DISPATCH = (
    (
        "read_in_row",
        "inputs",
        "(row / TILE_M) % PORTS_INPUTS",
        "Activation row `row` is read from input port (row / TILE_M) % PORTS_INPUTS.",
    ),
    (
        "read_w_row",
        "weights",
        "tile_n_index % PORTS_WEIGHTS",
        "Weights (on every weight port) for B tile column tile_n_index: port "
        "tile_n_index % PORTS_WEIGHTS.",
    ),
    (
        "write_out_row",
        "outputs",
        "(row / TILE_M) % PORTS_OUTPUTS",
        "Activation row `row` is written to output port (row / TILE_M) % PORTS_OUTPUTS.",
    ),
)


def _dispatch_functions(names: Mapping[str, list[str]]) -> str:
    """One small function per transfer that picks the m_axi port with a switch."""
    blocks = []
    for func, stream, selector, doc in _DISPATCH:
        ports = names[stream]
        if func == "write_out_row":
            head = [
                f"/// {doc}",
                f"inline void {func}(DSE_PORT_PARAMS, long row, long off, int n, "
                "const act_t* src) {",
            ]
            call = "write_row({p} + off, src, n);"
        else:
            index = "long row" if stream == "inputs" else "int tile_n_index"
            head = [
                f"/// {doc}",
                "template <typename D>",
                f"inline void {func}(DSE_PORT_PARAMS, {index}, long off, int n, D* dst) {{",
            ]
            call = "read_row({p} + off, dst, n);"
        lines = head
        if len(ports) == 1:
            lines.append("  " + call.format(p=ports[0]))
        else:
            lines.append(f"  switch ({selector}) {{")
            for j, p_ in enumerate(ports[1:], start=1):
                lines.append(f"    case {j}: " + call.format(p=p_) + " break;")
            lines.append("    default: " + call.format(p=ports[0]) + " break;")
            lines.append("  }")
        lines.append("}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


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
            "syn.file=vector.cpp",
            f"syn.top={KERNEL}",
            f"clock={params['clock_mhz']}MHz",
            "package.output.format=xo",
            f"package.output.file={KERNEL}.xo",
            "",
        ]
    )


def argument_channels(
    params: Mapping[str, Any], alloc: Mapping[str, list[int]]
) -> list[tuple[str, int]]:
    """``(argument, channel)`` of every m_axi argument of one CU, in argument order: the port
    arguments of each stream on their channels, ``prm`` (float vectors) on the first weight
    channel and ``ps`` (partial sums) on the first output channel (the bundles they share in
    kernel.cpp). The exported host puts each buffer in the bank of its argument."""
    names = port_names(params)
    out = [
        (port, int(ch))
        for stream in STREAMS
        for port, ch in zip(names[stream], alloc[stream], strict=True)
    ]
    out.append(("prm", int(alloc["weights"][0])))
    out.append(("ps", int(alloc["outputs"][0])))
    return out


def render_link_config(
    params: Mapping[str, Any], plat: Mapping[str, Any], ports: list[dict[str, list[int]]]
) -> str:
    """``link.cfg`` ``[connectivity]``: CU names, SLR per CU and one ``sp`` per m_axi argument
    onto ``HBM[n]`` or ``DDR[n]`` (:func:`argument_channels`; arguments sharing a bundle name the
    same channel)."""
    cus = [f"{KERNEL}_{i + 1}" for i in range(params["compute_units"])]
    slrs = cu_slrs(len(cus), plat["cu_slr_order"])
    lines = [
        f"# link.cfg: {len(cus)} compute unit(s) of {KERNEL} for design {params['design_id']}.",
        f"# Run: v++ --link --platform {plat['vitis_platform']} --config link.cfg "
        f"--freqhz={params['clock_mhz']}MHz {KERNEL}.xo",
        f"# {plat['tag']} channels follow dse.allocation.channel_allocation (share_weights="
        f"{_cbool(params['share_weights'])}, share_streams="
        f"{_cbool(params.get('share_streams', False))}); host.cpp puts every buffer in the bank "
        "of its argument (docs/host.md).",
        "[connectivity]",
        f"nk={KERNEL}:{len(cus)}:{','.join(cus)}",
    ]
    lines += [f"slr={cu}:SLR{slr}" for cu, slr in zip(cus, slrs, strict=True)]
    for cu, alloc in zip(cus, ports, strict=True):
        for arg, ch in argument_channels(params, alloc):
            lines.append(f"sp={cu}.{arg}:{plat['tag']}[{ch}]")
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
