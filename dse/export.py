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
- ``design.json``: every parameter and predicted figure of the design row, and (with the run's
  model) the ``hardware`` section: what one CU instantiates (dse.hardware, docs/hardware.md).
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
from dse.capacity import ARENA_PAD_ELEMS
from dse.errors import UserError
from dse.hardware import MAXI_BURST_WORDS, TEMPLATE_ONLY, epilogue_banks, score_banks
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
    if model is not None:
        from dse.hardware import Shapes

        shapes = Shapes.of(model.workload)
        tokens, head_dim = int(shapes.tokens), int(shapes.head_dim)
    else:
        tokens, head_dim = DEFAULT_ATTN_TOKENS, DEFAULT_HEAD_DIM
    hardware = hardware_of(design, platform, ports, model)
    texts = {
        "dse_config.h": render_config_header(
            params,
            memory=plat["tag"],
            pipeline_fill=plat["pipeline_fill"],
            vec_row_max=row_max,
            attn_tokens=tokens,
            attn_head_dim=head_dim,
            memory_spec=farthest_memory(params, platform, plat["memory"]),
            fadd_stages=plat["fadd_stages"],
            vec_row=vector_row(model.workload) if model is not None else row_max,
        ),
        "kernel.cpp": render_kernel(
            params, attn_tokens=tokens, attn_head_dim=head_dim, hardware=hardware
        ),
        "vector.cpp": render_vector(params, vec_row_max=row_max, hardware=hardware),
        "host.cpp": _template("host.cpp.in").substitute(
            design_id=params["design_id"], arena_pad=ARENA_PAD_ELEMS
        ),
        "hls_config.cfg": render_hls_config(params, plat),
        "link.cfg": render_link_config(params, plat, ports),
        # the hardware section with the run's model (its workload sizes the buffers)
        "design.json": design_json(design, hardware=hardware if model is not None else None),
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
        fields["fadd_stages"] = int(platform["logic"].get("fadd_stages", DEFAULT_FADD_STAGES))
        fields["tag"] = kind.upper()  # HBM or DDR: the bank name in sp=...
        fields["memory"] = {
            k: float(mem[k])
            for k in (
                "channel_measured_gbps", "read_latency_ns", "write_latency_ns", "outstanding",
                "max_burst_bytes", "port_bits", "port_mhz", "kernel_port_bits",
                "lateral_efficiency",
            )
        }  # fmt: skip
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


def vector_row(workload: Any) -> int:
    """The longest row the vector unit computes on: every vector kernel's row and a fused score
    row (the tokens); the pixel shuffle's longer output row is only copied."""
    return max([workload.tokens, *(k.n for k in workload.kernels if k.kind != "gemm")])


def accumulator_type(weight_precision: str, act_precision: str) -> str:
    """``std::int32_t`` when both operands are integers, else ``float``."""
    both_int = {weight_precision, act_precision} <= INTEGER_PRECISIONS
    return "std::int32_t" if both_int else "float"


#: Fused-attention score row without a workload to size it (smolVLA: 1024 tokens per image).
DEFAULT_ATTN_TOKENS = 1024
#: Head dimension without a workload (smolVLA: 768 / 12).
DEFAULT_HEAD_DIM = 64


def hardware_of(
    design: Mapping[str, Any],
    platform: Mapping[str, Any],
    ports: list[dict[str, list[int]]],
    model: Model | None,
) -> dict[str, Any]:
    """The design's hardware description (dse.hardware.describe) on the platform, with the
    model's workload shapes (the defaults without a model); CU 0's channels."""
    from dse.hardware import Shapes, describe
    from dse.platform import Platform

    if model is not None:
        shapes = Shapes.of(model.workload)
    else:
        shapes = Shapes(DEFAULT_ATTN_TOKENS, DEFAULT_HEAD_DIM, DEFAULT_VEC_ROW_MAX,
                        DEFAULT_VEC_ROW_MAX)  # fmt: skip
    plat = Platform.from_mapping(dict(platform))
    return describe(plat, shapes, design, channels=ports[0] if ports else None)


def farthest_memory(
    params: Mapping[str, Any], platform: Mapping[str, Any], memory: Mapping[str, float]
) -> dict[str, float]:
    """The memory figures of the design's farthest CU (what the model charges a step: its
    slowest CU): the registered SLR crossings' round trip, ``2 x crossing_cycles`` kernel-clock
    cycles per boundary crossed (dse.timing.crossings), added to every transaction's latency
    as dse.model does."""
    import numpy as np

    from dse.platform import Platform
    from dse.timing import crossings

    P = Platform.from_mapping(dict(platform))
    keys = ("compute_units", "share_streams", "share_weights", "pc_weights", "pc_inputs",
            "pc_outputs")  # fmt: skip
    d = {k: np.asarray([params[k]]) for k in keys if k in params}
    if len(d) < len(keys) or not params.get("clock_mhz"):
        return dict(memory)
    hops = float(crossings(P, d)[1][0])
    extra_ns = 2 * P.timing.crossing_cycles * 1e3 * hops / float(params["clock_mhz"])
    return {
        **memory,
        "read_latency_ns": float(memory["read_latency_ns"]) + extra_ns,
        "write_latency_ns": float(memory["write_latency_ns"]) + extra_ns,
    }


def kv_depth(params: Mapping[str, Any], tokens: int, head_dim: int) -> int:
    """Words per bank of the fused-attention K^T and V buffers (b_buf's banks and words): the
    larger of K^T (head_dim deep, tokens wide) and V (tokens deep, head_dim wide)."""
    pk, pn = params["pe_k"], params["pe_n"]

    def up(x, p):
        return -(-x // p)

    return max(up(head_dim, pk) * up(tokens, pn), up(tokens, pk) * up(head_dim, pn))

#: Interleaved partial sums per float accumulator when the platform gives none (u280.yaml
#: logic.fadd_stages: Vitis HLS's fadd_32ns_32ns_32_5_full_dsp_1 near 300 MHz).
DEFAULT_FADD_STAGES = 5


def pack_factor(params: Mapping[str, Any]) -> int:
    """PACK_N: weights (output columns) sharing one activation per DSP48E2 multiply of the
    integer PE body: 2 for integer engines (WP486: two products of 8-bit or narrower operands
    18 bits apart in one 27 x 18 multiply; an odd ``pe_n`` leaves the last column alone), 1 for
    float engines (one float multiply per MAC)."""
    w, a, _ = engine_precisions(params)
    return 2 if {w, a} <= INTEGER_PRECISIONS else 1


def pe_multipliers(params: Mapping[str, Any]) -> int:
    """Multiplies the unrolled PE body instantiates: pe_m x ceil(pe_n / PACK_N) x pe_k (DSP48E2
    multiplies for integer engines, float multiplies otherwise)."""
    pn = pack_factor(params)
    return params["pe_m"] * -(-params["pe_n"] // pn) * params["pe_k"]


#: Bits of an element in a memory word per precision (INT4 travels as a byte: the host's arenas
#: hold one element per byte).
PRECISION_BITS = {"FP32": 32, "BF16": 16, "INT8": 8, "INT4": 8}


def memory_timing(
    mem: Mapping[str, float], clock_mhz: float, weight_readers: int = 1
) -> dict[str, float]:
    """The channel figures the C-sim's burst cycles use (dse.channels' burst model, local
    channel): rate = min(measured GB/s, AXI port cap), latency per burst = latency /
    outstanding bursts.

    ``weight_readers``: the CUs reading one weight channel (``share_weights``: every CU). They
    take turns on it, each one's bursts crossing the HBM switch at ``lateral_efficiency`` of
    the local rate but its own (dse.model: ``n_w`` = channels x lat_factor / readers), so one
    CU's weight burst takes ``weight_share`` = readers x ((1 - lateral) + lateral /
    efficiency) = 1 + (readers - 1) / efficiency times its time alone (lateral = 1 - 1 /
    readers). 1 for a channel of its own."""
    cap = min(mem["port_bits"] / 8 * mem["port_mhz"], mem["kernel_port_bits"] / 8 * clock_mhz)
    eff = float(mem.get("lateral_efficiency", 1.0))
    readers = max(int(weight_readers), 1)
    return {
        "gbps": min(mem["channel_measured_gbps"], cap * 1e-3),
        "read_ns": mem["read_latency_ns"] / mem["outstanding"],
        "write_ns": mem["write_latency_ns"] / mem["outstanding"],
        "max_burst": int(mem["max_burst_bytes"]),
        "weight_share": 1.0 + (readers - 1) / eff,
    }


#: HBM figures when no platform is given (u280.yaml's memories.hbm).
DEFAULT_MEMORY = {
    "channel_measured_gbps": 13.27, "read_latency_ns": 289.0, "write_latency_ns": 151.0,
    "outstanding": 16.0, "max_burst_bytes": 4096.0, "port_bits": 256.0, "port_mhz": 450.0,
    "kernel_port_bits": 512.0, "lateral_efficiency": 0.5,
}  # fmt: skip


def render_config_header(
    params: Mapping[str, Any],
    *,
    memory: str = "HBM",
    pipeline_fill: int = 12,
    vec_row_max: int = 16384,
    attn_tokens: int = DEFAULT_ATTN_TOKENS,
    attn_head_dim: int = DEFAULT_HEAD_DIM,
    memory_spec: Mapping[str, float] | None = None,
    fadd_stages: int = DEFAULT_FADD_STAGES,
    vec_row: int | None = None,
) -> str:
    """Text of ``dse_config.h`` for checked parameters (see :func:`design_params`); ``memory``:
    the board's design memory (``HBM`` or ``DDR``), named in a comment; ``pipeline_fill``: the
    platform's ``logic.pipeline_fill_cycles`` (what the model charges per tile);
    ``vec_row_max``: the longest row the vector unit holds (:func:`vector_row_max`);
    ``attn_tokens``: the model's tokens (a fused score row); ``memory_spec``: the platform's
    memory entry (its rate and latency figures, for the C-sim's cycle count); ``fadd_stages``:
    the platform's float-add stages; ``vec_row``: the vector unit's float rows (default
    ``vec_row_max``)."""
    vec_row = vec_row_max if vec_row is None else vec_row
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
    names = port_names(params)
    rows = [f'    {{"{c}", {tm}, {tn}, "{prec}"}},' for c, (tm, tn, prec) in classes.items()]
    acc = accumulator_type(w_engine, a_engine)
    readers = int(params["compute_units"]) if params.get("share_weights") else 1
    timing = memory_timing(memory_spec or DEFAULT_MEMORY, params["clock_mhz"], readers)
    bind = []
    for t, n in port_list:
        arena = {"w": "W", "a": "A", "c": "C"}[n[0]]
        cast = "const dse::word_t*" if t.startswith("const") else "dse::word_t*"
        bind.append(f"{t} {n} = reinterpret_cast<{cast}>({arena}); (void){n};")
    values.update(
        num_classes=len(rows),
        class_rows="\n".join(rows),
        weight_type=ELEMENT_TYPE[w_engine],
        act_type=ELEMENT_TYPE[a_engine],
        acc_type=acc,
        pack_n=pack_factor(params),
        acc_slots=1 if acc == "std::int32_t" else int(fadd_stages),
        double_buffer=_cbool(params["double_buffer"]),
        uram_buffers=_cbool(params["buffer_storage"] == "uram"),
        bbuf_type=ELEMENT_TYPE[min(w_engine, a_engine, key=PRECISIONS.index)],
        dataflow=params["dataflow"],
        fuse_attention=_cbool(params["fuse_attention"]),
        attn_tokens=int(attn_tokens),
        attn_head_dim=int(attn_head_dim),
        vector_lanes=params["vector_lanes"],
        pipeline_fill=int(pipeline_fill),
        vec_row_max=int(vec_row_max),
        vec_row=int(vec_row),
        fadd_stages=int(fadd_stages),
        mem_gbps=f"{timing['gbps']:.6g}",
        mem_read_lat_ns=f"{timing['read_ns']:.6g}",
        mem_write_lat_ns=f"{timing['write_ns']:.6g}",
        mem_max_burst=timing["max_burst"],
        mem_weight_share=f"{timing['weight_share']:.6g}",
        row_words_max=max(1, -(-int(vec_row_max) * 32 // 512)),
        port_params=", ".join(f"{t} {n}" for t, n in port_list),
        port_args=", ".join(n for _, n in port_list),
        scalar_params=", ".join(_SCALARS),
        bind_ports=" ".join(bind),
        for_weight_ports=" ".join(f"X({j}, {n})" for j, n in enumerate(names["weights"])),
        for_input_ports=" ".join(f"X({j}, {n})" for j, n in enumerate(names["inputs"])),
        for_output_ports=" ".join(f"X({j}, {n})" for j, n in enumerate(names["outputs"])),
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
    """(C++ parameter type, name) of every m_axi port argument, weights, inputs, outputs: 512-bit
    words (``dse::word_t``, read-only for weights and inputs); ``ns`` is kept for callers that
    name the namespace (the types are always qualified)."""
    names = port_names(params)
    ptype = {
        "weights": "const dse::word_t*",
        "inputs": "const dse::word_t*",
        "outputs": "dse::word_t*",
    }
    return [(ptype[s], n) for s in STREAMS for n in names[s]]


#: m_axi depth= (co-simulation only: words a port's test-bench array holds; UG1399 INTERFACE).
MAXI_DEPTH = 1 << 20


def render_kernel(
    params: Mapping[str, Any],
    *,
    attn_tokens: int = DEFAULT_ATTN_TOKENS,
    attn_head_dim: int = DEFAULT_HEAD_DIM,
    hardware: Mapping[str, Any] | None = None,
) -> str:
    """Text of ``kernel.cpp`` for checked parameters (see :func:`design_params`); the fused
    attention buffers hold ``attn_tokens`` x ``attn_head_dim`` (the model's); ``hardware``: the
    design's hardware description (dse.hardware.describe), whose buffer primitives the
    BIND_STORAGE pragmas name (without it: ``buffer_storage`` for every tile buffer)."""
    names = port_names(params)
    bundles = bundle_names(params)
    ports = _port_list(params)
    args = [f"{t} {n}" for t, n in ports]
    args += ["const float* prm", "dse::acc_t* ps", *_SCALARS]
    signature = ",\n                         ".join(args)
    pragmas = [
        f"#pragma HLS INTERFACE mode=m_axi port={n} bundle={g} offset=slave depth={MAXI_DEPTH} "
        f"max_read_burst_length={MAXI_BURST_WORDS} max_write_burst_length={MAXI_BURST_WORDS}"
        for s in STREAMS
        for n, g in zip(names[s], bundles[s], strict=True)
    ]
    # the float vectors (bias, LayerNorm) ride on the first weight channel, the partial sums on
    # the first output channel: no extra channel, as the model counts them; element-typed, so
    # HLS widens their bursts to the bundle's 512 bits
    pragmas.append(
        f"#pragma HLS INTERFACE mode=m_axi port=prm bundle={bundles['weights'][0]} offset=slave "
        f"depth={MAXI_DEPTH} max_widen_bitwidth=512"
    )
    pragmas.append(
        f"#pragma HLS INTERFACE mode=m_axi port=ps bundle={bundles['outputs'][0]} offset=slave "
        f"depth={MAXI_DEPTH} max_widen_bitwidth=512"
    )
    pragmas += [
        f"#pragma HLS INTERFACE mode=s_axilite port={s.split()[-1]}"
        for s in (*_SCALARS, "x return")
    ]
    k_inner = params["dataflow"][-1] == "k"
    note = (
        "k innermost: a C tile's accumulators stay in c_acc until its reduction is complete."
        if k_inner
        else "k is not innermost: partial sums (accumulator type) spill to ps and are read "
        "back (load_p) whenever k sits outside an iterating m or n loop."
    )
    df = params["dataflow"]
    hold_a = df.index("n") > df.index("m")
    hold = (
        "n runs inside m, so load_a keeps a hold copy of the A tile (a_hold) for the n tiles "
        "that reuse it; a reused B tile is read again."
        if hold_a
        else "m runs inside n, so load_b keeps a hold copy of the B tile (b_hold) for the m "
        "tiles that reuse it; a reused A tile is read again."
    )
    pm, pn, pk = params["pe_m"], params["pe_n"], params["pe_k"]
    tm, tn, tk = params["tile_m"], params["tile_n"], params["tile_k"]
    prims = buffer_primitives(params, hardware)

    def storage(*names_: str) -> str:
        return "\n".join(_storage_pragma(v, prims[v]) for v in names_)

    dbuf = params["double_buffer"]
    blocks = (tm // pm) * (tn // pn)
    # store_c's stage, bias and rows, partitioned for the epilogue's lanes and the row bursts
    cs_factor, bias_factor, row_factor = (int(x) for x in epilogue_banks(
        tn, pn, params["vector_lanes"], PRECISION_BITS[engine_precisions(params)[1]]))
    values = {
        "design_id": params["design_id"],
        "dataflow": df,
        "dataflow_note": note,
        "hold_note": hold,
        "pe_m": pm,
        "pe_n": pn,
        "pe_k": pk,
        "pack_n": pack_factor(params),
        "storage_a_hold": storage("a_hold"),
        "storage_b_hold": storage("b_hold"),
        "storage_c_buf": storage("c_buf"),
        "storage_a_buf": storage("a_buf"),
        "storage_b_buf": storage("b_buf"),
        "storage_fused": (_fused_pragmas(prims, int(score_banks(pn, params["vector_lanes"])))
                          if params["fuse_attention"] else ""),
        # the row stages (all named stage, one per function or branch) and the epilogue rows
        "storage_a_stage": _storage_pragma("stage", prims["a_stage"]),
        "storage_bt_stage": _storage_pragma("stage", prims["bt_stage"]),
        "storage_b_stage": _storage_pragma("stage", prims["b_stage"]),
        "storage_p_stage": _storage_pragma("stage", prims["p_stage"]),
        "storage_c_stage": _storage_pragma("stage", prims["c_stage"]),
        "storage_bias_row": _storage_pragma("bias", prims["bias_row"]),
        "storage_res_row": _storage_pragma("res", prims["res_row"]),
        "storage_out_row": _storage_pragma("out", prims["out_row"]),
        "storage_p_s": _fifo_pragma("p_s", prims["p_s"]),
        "storage_c_s": _fifo_pragma("c_s", prims["c_s"]),
        "a_groups": tm // pm,
        "k_steps": tk // pk,
        "n_steps": tn // pn,
        "tile_m": tm,
        "tile_n": tn,
        "softmax_steps": -(-attn_tokens // params["vector_lanes"]),
        "pe_steps": (tm // pm) * (tn // pn) * (tk // pk),
        "tiles_max": 1 << 16,
        "a_stage_factor": pk,
        "b_stage_factor": pn,
        "p_stage_factor": pn,
        "cs_factor": cs_factor,
        "bias_factor": bias_factor,
        "row_factor": row_factor,
        "ports_b_max": max(stream_ports(params)["weights"], stream_ports(params)["inputs"]),
        "epi_lanes": params["vector_lanes"],
        "tile_dataflow": "#pragma HLS DATAFLOW" if dbuf else "  // single-buffered: in turn",
        # c_s holds one C tile's blocks: double-buffered it is the C ping-pong (compute runs a
        # tile ahead of store_c); single-buffered the processes run in turn, so compute writes
        # the whole tile before store_c reads it. p_s: in the DATAFLOW region load_p runs beside
        # compute, so one group of PE_M rows (TILE_N/PE_N blocks) lets it read the next group
        # while compute takes this one; in turn, load_p finishes the tile before compute starts.
        "p_depth": tn // pn if dbuf else blocks,
        "c_depth": blocks,
        "kv_depth": kv_depth(params, attn_tokens, attn_head_dim) if params["fuse_attention"] else 1,
        "signature": signature,
        "interface_pragmas": "\n".join(pragmas),
        "port_args": ", ".join(n for _, n in ports),
    }
    return _template("kernel.cpp.in").substitute(values)


#: HLS storage of a bank per hardware-description primitive (UG1399 BIND_STORAGE impl=).
_IMPL = {"lutram": "lutram", "bram": "bram", "uram": "uram"}


def buffer_primitives(
    params: Mapping[str, Any], hardware: Mapping[str, Any] | None
) -> dict[str, str]:
    """The primitive of every kernel array with a storage pragma: the description's (a hold copy
    takes its buffer's), or ``buffer_storage`` when no description is given."""
    prims = {b: params["buffer_storage"] for b in ("a_buf", "b_buf", "c_buf", "k_buf", "v_buf",
                                                    "s_buf")}  # fmt: skip
    # without a description: the template's short rows and its FIFO in LUTRAM (never URAM;
    # its hold copies take their buffers' below)
    prims.update({b: "lutram" for b in TEMPLATE_ONLY if b not in ("a_hold", "b_hold", "c_s")})
    prims["c_s"] = prims["c_buf"]  # one C tile deep, like c_buf
    if hardware is not None:
        prims.update({b["name"]: b["primitive"] for b in hardware["buffers"]})
    prims.setdefault("a_hold", prims["a_buf"])
    prims.setdefault("b_hold", prims["b_buf"])
    return prims


def _storage_pragma(var: str, primitive: str) -> str:
    """Registers: every element its own (ARRAY_PARTITION complete, all dims); else the bank's
    memory (BIND_STORAGE, a simple dual-port RAM: one write, one read port)."""
    if primitive == "registers":
        return f"#pragma HLS ARRAY_PARTITION variable={var} type=complete dim=0"
    return f"#pragma HLS BIND_STORAGE variable={var} type=ram_2p impl={_IMPL[primitive]}"


def _fifo_pragma(var: str, primitive: str) -> str:
    """The storage of a FIFO (UG1399 BIND_STORAGE type=fifo: impl lutram, bram, uram, or srl for
    a FIFO of registers)."""
    impl = "srl" if primitive == "registers" else _IMPL[primitive]
    return f"#pragma HLS BIND_STORAGE variable={var} type=fifo impl={impl}"


def _fused_pragmas(prims: Mapping[str, str], score_factor: int) -> str:
    """Banks (dim 1), words (dim 3) and storage of the fused-attention buffers; s_buf's banks
    also split cyclically over their words (dim 2) by ``score_factor``
    (dse.hardware.score_banks), so a row gives the lanes their scores each cycle."""
    lines = []
    for v in ("k_buf", "v_buf", "s_buf"):
        lines.append(f"#pragma HLS ARRAY_PARTITION variable={v} type=complete dim=1")
        if v == "s_buf" and score_factor > 1:
            lines.append(f"#pragma HLS ARRAY_PARTITION variable={v} type=cyclic "
                         f"factor={score_factor} dim=2")
        lines.append(f"#pragma HLS ARRAY_RESHAPE variable={v} type=complete dim=3")
        lines.append(_storage_pragma(v, prims[v]))
    return "\n".join(lines)


def render_vector(
    params: Mapping[str, Any],
    *,
    vec_row_max: int = DEFAULT_VEC_ROW_MAX,
    hardware: Mapping[str, Any] | None = None,
) -> str:
    """Text of ``vector.cpp`` (the vector unit) for checked parameters; its rows' storage from
    the hardware description (``buffer_storage`` without one)."""
    lanes = params["vector_lanes"]
    prims = {v: params["buffer_storage"] for v in ("vec_x", "vec_r", "vec_io")}
    if hardware is not None:
        prims.update({b["name"]: b["primitive"] for b in hardware["buffers"] if b["name"] in prims})
    return _template("vector.cpp.in").substitute(
        design_id=params["design_id"],
        vector_lanes=lanes,
        row_steps=max(1, -(-int(vec_row_max) // lanes)),
        shuffle_rows=1 << 12,
        vec_rows=1 << 14,
        vec_storage="\n".join(_storage_pragma(v, p) for v, p in prims.items()),
    )


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


def design_json(design: Mapping[str, Any], *, hardware: Mapping[str, Any] | None = None) -> str:
    """Every key of the design row as JSON (sorted keys; numpy scalars -> Python, NaN -> null),
    with the ``hardware`` section (dse.hardware.describe) when given."""
    plain = {str(k): _plain(v) for k, v in design.items()}
    if hardware is not None:
        plain["hardware"] = _plain(hardware)
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
