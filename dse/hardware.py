"""What one compute unit (CU) instantiates: the hardware description behind model and export.

One function, :func:`build`, turns a batch of designs (numpy arrays, one element per design) into
the hardware of one CU; :meth:`Hardware.per_cu` is what ``Model._resources`` charges and
:func:`describe` is the ``hardware`` section of ``design.json`` (docs/hardware.md), from which the
exporter writes pragmas. A feature that is not described here is not built, and not credited.

The CU (the lead's architecture, issue 16): a DATAFLOW region of load A, load B (weights),
compute (a PE array of ``pe_m x pe_n x pe_k`` MACs per cycle) and store C, joined by ping-pong
tile buffers (two copies with ``double_buffer``, else one):

- ``a_buf``: ``pe_m`` banks of ``pe_k`` activations per word, ``(tile_m/pe_m)(tile_k/pe_k)`` deep;
- ``b_buf``: ``pe_n`` banks of ``pe_k`` elements of max(weight, act) bits (B holds weights, or
  activations in attention), ``(tile_k/pe_k)(tile_n/pe_n)`` deep;
- ``c_buf``: ``pe_m`` banks of ``pe_n`` accumulators per word, ``(tile_m/pe_m)(tile_n/pe_n)`` deep,
  one copy (the accumulators a C tile keeps between its k tiles), and compute's output FIFO
  ``c_s``: one bank of ``pe_m x pe_n`` accumulators per word, one C tile deep;
- fused attention only: ``k_buf`` and ``v_buf`` (K and V of one head, tokens x head_dim, read as
  ``b_buf``) and ``s_buf`` (a score row block, tile_m x tokens accumulators in ``pe_m`` banks of
  ``pe_n``-wide words, each bank split cyclically over its words so that a row gives
  ``vector_lanes`` scores per cycle: :func:`score_banks`);
- the store's epilogue reads ``vector_lanes`` elements of a row per cycle from its stage, bias,
  residual and output rows, partitioned for it (:func:`epilogue_banks`);
- a vector unit of ``vector_lanes`` lanes: two float32 rows (``vec_x``, ``vec_r``) and one row at
  the activation precision (``vec_io``), each partitioned cyclically over the lanes (LUTRAM or
  BRAM: ``buffer_storage`` places the tile buffers, and a lane's short row never fills a URAM);
- float engines: ``fadd_stages`` interleaved partial sums per PE output, in registers
  (``acc_partials``), so the floating-point add does not set the II;
- one 512-bit m_axi port per memory channel of each stream (streams that share channels share
  ports), each with a FIFO between its burst process and the load/store process, and in its
  adapter a data buffer per direction it moves (in BRAM): a read buffer of the outstanding
  bursts (``MAXI_READ_WORDS`` words of ``MAXI_READ_BITS``) on the weight and input ports and on
  the first output port (the partial sums' read-back, ``ps``), a write buffer of one burst
  (``MAXI_WRITE_WORDS`` words of data and byte strobes, ``MAXI_WRITE_BITS``) on the output
  ports;
- one clock domain, ``ap_clk`` (DSP double pumping has no documented HLS route: not built;
  a published build that pumps, ``template=False`` with ``double_pump``, gets half the PE
  array's DSPs, as PG367 and PG338 count them).

Multipliers: integer pairs pack two MACs into one DSP48E2 (WP486: two weights share one
activation in one 27 x 18 multiply, a correction term fixes the low product's sign), paired along
``pe_n``; any float operand makes a float32 MAC (fmul + fadd operators; BF16 is multiplied in
FP32, where a bf16 x bf16 product is exact). MACs per DSP and LUTs per MAC come from the
platform's precision table.

Units: bits, words, banks, blocks (BRAM18, URAM288), LUTs, DSPs; all per CU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dse.channels import stream_channels
from dse.memory import PRIMITIVES, REGISTERS, bank_cost, bank_primitive, bram18_blocks
from dse.params import DATAFLOWS, KERNEL_CLASSES, PRECISIONS, STORAGES
from dse.platform import RESOURCES, Platform

#: Buffers of one CU, in description order.
BUFFERS = (
    "a_buf",
    "b_buf",
    "c_buf",
    "k_buf",
    "v_buf",
    "s_buf",
    "vec_x",
    "vec_r",
    "vec_io",
    "acc_partials",
    "a_hold",
    "b_hold",
    "a_stage",
    "bt_stage",
    "b_stage",
    "p_stage",
    "c_stage",
    "bias_row",
    "res_row",
    "out_row",
    "p_s",
    "c_s",
)
#: Buffers that are not tile buffers: a bank never goes to URAM (the loaders' and the store's row
#: stages, the epilogue's rows, the p_s FIFO; like the vector unit's rows).
NO_URAM = ("vec_x", "vec_r", "vec_io", "a_stage", "bt_stage", "b_stage", "p_stage", "c_stage",
           "bias_row", "res_row", "out_row", "p_s")  # fmt: skip
#: Buffers read at a run-time index that picks among their banks: even as registers (one element
#: per bank) each bank sits behind a read mux and costs ``logic.lut_per_bank`` (store_c's stage:
#: the epilogue's row; epilogue_banks may give a row's lanes a register each).
MUXED = ("c_stage",)
#: Buffers of dse's kernel template's own staging, not of the PE array's tiles: a published build
#: expressed in the tool's parameters has its own structure instead (``build(template=False)``).
TEMPLATE_ONLY = ("a_hold", "b_hold", "a_stage", "bt_stage", "b_stage", "p_stage", "c_stage",
                 "bias_row", "res_row", "out_row", "p_s", "c_s")  # fmt: skip
#: Multiplier groups of one CU (``slot_adders``: the float adders that sum a PE output's
#: interleaved partial sums, counted with the multipliers as the DSP operators they are).
MULTIPLIERS = ("pe", "vector", "slot_adders")
#: How a multiplier group is built (``implementation`` in the description).
IMPLEMENTATIONS = ("dsp_packed", "fp32_fmul_fadd", "fp32_vector_lane", "fp32_fadd")
#: One float adder as Vitis HLS binds it by default (fadd, fulldsp): 2 DSP48E2 and 226 LUTs
#: (HLS report: Vitis HLS csynth on U280, fadd_32ns_32ns_32_3_full_dsp_1: 2 DSP, 226 LUT; the
#: same operator the platform's FP32 macs_per_dsp and lut_per_mac count).
FADD_DSP, FADD_LUT = 2.0, 226.0
#: Loop orders (dse.params.DATAFLOWS) in which n runs inside m: load_a holds the A tile
#: (kernel.cpp HOLD_A), else load_b holds the B tile.
HOLD_A = np.array([df.index("n") > df.index("m") for df in DATAFLOWS])
#: Streams in port order (dse.allocation.STREAMS) and their port-name prefix.
STREAMS = ("weights", "inputs", "outputs")
PORT_PREFIX = {"weights": "w", "inputs": "a", "outputs": "c"}
#: Width of every m_axi port (doc UG1399: 512-bit is the widest m_axi data port).
PORT_BITS = 512
#: Words one m_axi burst moves at most: the export's INTERFACE pragmas
#: (``max_read_burst_length=64 max_write_burst_length=64``, dse.export.render_kernel reads it).
MAXI_BURST_WORDS = 64
#: Bursts an m_axi adapter keeps in flight per direction (doc UG1399, INTERFACE pragma:
#: ``num_read_outstanding`` / ``num_write_outstanding`` default 16; the export keeps the default).
MAXI_OUTSTANDING = 16
#: An m_axi adapter's data buffers, as Vitis HLS 2022.1 writes them (its generated adapter RTL,
#: e.g. github.com/bxinquan/zynqmp_cam_isp_demo, zynqmp_cam_isp_demo.runs/design_1_v_frmbuf_rd_0_0
#: _synth_1/prj/sol/.autopilot/db/vlog/design_1_v_frmbuf_rd_0_0_mm_video_m_axi.v; both FIFOs
#: take MEM_STYLE = MAXI_BUFFER_IMPL, "block"). The load unit's ``buff_rdata`` holds
#: RBUFF_DEPTH = NUM_READ_OUTSTANDING x MAX_READ_BURST_LENGTH beats of BUS_DATA_WIDTH + 2 bits
#: (data, RLAST and a burst-ready flag): the outstanding bursts (doc UG1399, "Controlling AXI4
#: Burst Behavior"). The store unit's ``buff_wdata`` holds WBUFF_DEPTH = MAX_WRITE_BURST_LENGTH x
#: BUS_DATA_WIDTH / USER_DATA_WIDTH words of USER_DW + USER_DW / 8 bits (data and byte strobes):
#: one burst of the kernel's 512-bit words (the outstanding count sizes only 1-bit control
#: FIFOs there).
MAXI_READ_WORDS = MAXI_BURST_WORDS * MAXI_OUTSTANDING
MAXI_READ_BITS = PORT_BITS + 2
MAXI_WRITE_WORDS = MAXI_BURST_WORDS
MAXI_WRITE_BITS = PORT_BITS + PORT_BITS // 8
#: The read buffer's words (the deeper of the two; kept under its former name).
MAXI_BUFFER_WORDS = MAXI_READ_WORDS
#: Depth of the FIFO behind each port (doc UG1399: hls::stream default depth 2).
FIFO_DEPTH = 2
#: Bits one SRLC32E shift-register LUT holds per stage chain (doc UG574: 32 stages per LUT).
SRL_DEPTH = 32
#: The clock domains of a CU (one: the kernel clock).
CLOCK_DOMAINS = ("ap_clk",)
#: Precision codes that are floating point (dse.params.PRECISIONS).
FLOAT_CODES = (PRECISIONS.index("FP32"), PRECISIONS.index("BF16"))


@dataclass(frozen=True)
class Shapes:
    """What the workload fixes in the hardware (elements).

    Attributes:
        tokens: sequence length (K and V of one head hold ``tokens x head_dim``).
        head_dim: elements per attention head.
        vector_row: longest row the vector unit's float rows hold (every vector kernel's row,
            and a fused score row: the tokens).
        io_row: longest row its I/O row holds (also the pixel shuffle's output row, the
            connector's K).
    """

    tokens: int
    head_dim: int
    vector_row: int
    io_row: int

    @classmethod
    def of(cls, workload: Any) -> Shapes:
        """The shapes of a :class:`dse.workload.Workload`."""
        att = [k for k in workload.kernels if k.attention and k.kind == "gemm"]
        heads = att[0].instances if att else 1
        rows = [k.n for k in workload.kernels if k.kind != "gemm"]
        row = max([workload.tokens, *rows])
        io = max([row, *(k.k for k in workload.kernels if k.name == "connector")])
        return cls(workload.tokens, workload.hidden // heads, row, io)


@dataclass(frozen=True)
class Hardware:
    """One CU of each design of a batch; every array has a last axis of length n (designs).

    Attributes:
        buf_element_bits, buf_word_bits, buf_depth, buf_banks, buf_copies: (len(BUFFERS), n)
            geometry: bits per element, bits per bank word, words per bank, banks (partition
            factor), copies (2 ping-pong, 1, 0 = not built).
        buf_primitive: (len(BUFFERS), n) code into dse.memory.PRIMITIVES.
        buf_bram18, buf_uram, buf_lutram, buf_lut, buf_ff: (len(BUFFERS), n) the buffer's cost
            over all its banks and copies: blocks, LUTs used as RAM, LUTs in all (LUTRAM plus
            address/mux logic per bank), flip-flops (registers).
        mul_macs, mul_macs_per_dsp, mul_dsp, mul_lut: (len(MULTIPLIERS), n) MAC units (lanes
            for the vector unit), MACs per DSP, DSPs, LUTs.
        mul_implementation: (len(MULTIPLIERS), n) code into IMPLEMENTATIONS.
        weight_code, act_code: (n,) the engine's precision codes (its widest mode).
        ports: (len(STREAMS), n) m_axi ports per stream (shared streams repeat the set).
        port_count: (n,) distinct ports of the CU.
        fifo_lut: (n,) LUTs of the port FIFOs.
        maxi_read_buffers, maxi_write_buffers: (n,) m_axi data buffers (one per port and
            direction it moves; :func:`maxi_buffer_bram18` blocks each).
        maxi_bram18: (n,) BRAM18 of those buffers.
        control_lut: (n,) LUTs of the port adapters and the CU's control.
        dsp, bram18, uram, lut: (n,) totals per CU.
    """

    buf_element_bits: np.ndarray
    buf_word_bits: np.ndarray
    buf_depth: np.ndarray
    buf_banks: np.ndarray
    buf_copies: np.ndarray
    buf_primitive: np.ndarray
    buf_bram18: np.ndarray
    buf_uram: np.ndarray
    buf_lutram: np.ndarray
    buf_lut: np.ndarray
    buf_ff: np.ndarray
    mul_macs: np.ndarray
    mul_macs_per_dsp: np.ndarray
    mul_dsp: np.ndarray
    mul_lut: np.ndarray
    mul_implementation: np.ndarray
    weight_code: np.ndarray
    act_code: np.ndarray
    ports: np.ndarray
    port_count: np.ndarray
    fifo_lut: np.ndarray
    maxi_read_buffers: np.ndarray
    maxi_write_buffers: np.ndarray
    maxi_bram18: np.ndarray
    control_lut: np.ndarray
    dsp: np.ndarray
    bram18: np.ndarray
    uram: np.ndarray
    lut: np.ndarray

    def per_cu(self) -> np.ndarray:
        """(n, 4) resources of one CU in dse.platform.RESOURCES order."""
        cols = {"lut": self.lut, "dsp": self.dsp, "bram18": self.bram18, "uram": self.uram}
        return np.stack([cols[r] for r in RESOURCES], axis=1)


def _bank_costs(word_bits, depth, primitive):
    """dse.memory.bank_cost of every bank, computed once per distinct (word bits, depth,
    primitive): a batch holds few distinct banks, so this is much cheaper than per element."""
    key = (
        (word_bits.astype(np.int64) << 34)
        | (depth.astype(np.int64) << 2)
        | primitive.astype(np.int64)
    )
    uniq, inverse = np.unique(key, return_inverse=True)
    w = (uniq >> 34).astype(float)
    d = ((uniq >> 2) & ((1 << 32) - 1)).astype(float)
    costs = bank_cost(w, d, (uniq & 3).astype(np.int8))
    inverse = inverse.reshape(key.shape)
    return tuple(c.astype(np.float32)[inverse] for c in costs)


def maxi_buffer_bram18(direction: str = "read") -> float:
    """BRAM18 of one m_axi data buffer (one port, one direction) in the best BRAM18 shape
    (dse.memory.bram18_blocks): ``read``, 1,024 x 514 bits: 29 blocks of 1K x 18; ``write``,
    64 x 576 bits: 16 blocks of 512 x 36."""
    words, bits = {
        "read": (MAXI_READ_WORDS, MAXI_READ_BITS),
        "write": (MAXI_WRITE_WORDS, MAXI_WRITE_BITS),
    }[direction]
    return float(bram18_blocks(bits, words))


def epilogue_banks(tile_n, pe_n, lanes, act_bits):
    """Cyclic partition factors of store_c's arrays so that its epilogue (``lanes`` elements of a
    row per cycle, kernel.cpp EPILOGUE) and its bursts (one 512-bit word per cycle: ``512 /
    act_bits`` elements, INT4 travelling as a byte) never wait on a bank port: (``c_stage``'s
    row, ``bias``, ``res`` and ``out``), each at most ``tile_n`` (a cyclic factor past the array
    is a complete partition). Scalars or numpy arrays.

    Example: tile_n 256, pe_n 4, 128 lanes, INT8: (128, 128, 128); 16 lanes: (16, 16, 64).
    """
    per_word = PORT_BITS // np.maximum(np.asarray(act_bits, dtype=np.int64), 8)
    stage = np.minimum(tile_n, np.maximum(pe_n, lanes))
    bias = np.minimum(tile_n, lanes)
    rows = np.minimum(tile_n, np.maximum(lanes, per_word))
    return stage, bias, rows


def score_banks(pe_n, lanes):
    """Banks each of ``s_buf``'s ``pe_m`` row banks is split into (cyclic over its ``pe_n``-wide
    words, kernel.cpp ``s_buf`` dim 2) so that the fused epilogue's writes and softmax_rows'
    passes reach ``lanes`` scores of one row per cycle: a row's ``lanes`` consecutive scores
    are ``lanes / pe_n`` consecutive words (a simple dual-port bank gives one read and one write
    per cycle: the exp and divide passes read and write the same word). Scalars or arrays.

    Example: pe_n 8, 32 lanes: 4; pe_n 16, 8 lanes: 1.
    """
    return np.maximum(1, -(-np.asarray(lanes, dtype=np.int64) // np.asarray(pe_n, dtype=np.int64)))


def engine_codes(d: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The engine's weight and activation precision codes: the widest mode any kernel class
    uses (``prec_<class>``; ``same`` = the default), as dse.model costs them."""
    wdef = np.asarray(d["weight_precision"], dtype=np.intp)
    adef = np.asarray(d["act_precision"], dtype=np.intp)
    codes = {}
    for c in KERNEL_CLASSES:
        default = adef if c == "attention" else wdef
        code = d.get(f"prec_{c}")
        if code is None:
            codes[c] = default
        else:
            code = np.asarray(code, dtype=np.intp)
            codes[c] = np.where(code == 0, default, code - 1)
    wc = np.minimum.reduce([codes[c] for c in KERNEL_CLASSES if c != "attention"])
    ac = np.minimum(adef, codes["attention"])
    return wc, ac


def build(
    platform: Platform,
    shapes: Shapes,
    d: Mapping[str, Any],
    *,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
    template: bool = True,
) -> Hardware:
    """The hardware of one CU for every design in ``d`` (parameter arrays, categoricals as
    integer codes, as dse.model receives them).

    Args:
        platform: the typed platform (precision table, ``logic`` constants).
        shapes: what the workload fixes (:meth:`Shapes.of`).
        d: one array per design parameter (dse.params), all of length n.
        codes: the engine's (weight, activation) precision codes when the caller has them
            (:func:`engine_codes` otherwise).
        template: describe dse's kernel template (default). False: a published build expressed
            in the tool's parameters, without the template's own staging
            (:data:`TEMPLATE_ONLY` buffers, among them the ``c_s`` FIFO, and the slot adders),
            which that build's own structure replaces.
    """
    P, lg = platform, platform.logic
    f = float
    wc, ac = engine_codes(d) if codes is None else codes
    wc = np.asarray(wc, dtype=np.intp)
    ac = np.asarray(ac, dtype=np.intp)
    bits = P.prec_bits
    wbits, abits = bits[wc], bits[ac]
    accbits = P.acc_bits[wc, ac]
    act_bits = bits[np.asarray(d["act_precision"], dtype=np.intp)]  # activations between kernels
    pm, pn, pk = (np.asarray(d[k], dtype=f) for k in ("pe_m", "pe_n", "pe_k"))
    tm, tn, tk = (np.asarray(d[k], dtype=f) for k in ("tile_m", "tile_n", "tile_k"))
    lanes = np.asarray(d["vector_lanes"], dtype=f)
    copies = 1.0 + np.asarray(d["double_buffer"], dtype=f)
    fused = np.asarray(d["fuse_attention"], dtype=f)
    use_uram = np.asarray(d["buffer_storage"]) == STORAGES.index("uram")
    floating = np.isin(wc, FLOAT_CODES) | np.isin(ac, FLOAT_CODES)
    n = len(pm)
    one = np.ones(n)
    bbits = np.maximum(wbits, abits)
    s, dh = f(shapes.tokens), f(shapes.head_dim)
    rows_m, cols_n, deep_k = tm / pm, tn / pn, tk / pk
    kv_depth = np.ceil(s * dh / (pk * pn))
    stages = f(lg["fadd_stages"])
    hold_a = HOLD_A[np.asarray(d["dataflow"], dtype=np.intp)].astype(f)
    csf, bf, rf = (x.astype(f) for x in epilogue_banks(tn, pn, lanes, abits))
    sq = score_banks(pn, lanes).astype(f)
    # (element bits, word bits, depth, banks, copies) per buffer, in BUFFERS order
    geo = {
        "a_buf": (abits, pk * abits, rows_m * deep_k, pm, copies),
        "b_buf": (bbits, pk * bbits, deep_k * cols_n, pn, copies),
        # c_buf: the C tile between its k tiles (a published build: its ping-pong)
        "c_buf": (accbits, pn * accbits, rows_m * cols_n, pm, one if template else copies),
        "k_buf": (abits, pk * abits, kv_depth, pn, fused),
        "v_buf": (abits, pk * abits, kv_depth, pn, fused),
        # the score row block's pe_m banks, each split cyclically over its words (score_banks)
        "s_buf": (accbits, pn * accbits, np.ceil(rows_m * np.ceil(s / pn) / sq), pm * sq, fused),
        "vec_x": (32.0 * one, 32.0 * one, np.ceil(shapes.vector_row / lanes), lanes, one),
        "vec_r": (32.0 * one, 32.0 * one, np.ceil(shapes.vector_row / lanes), lanes, one),
        "vec_io": (act_bits, act_bits, np.ceil(shapes.io_row / lanes), lanes, one),
        "acc_partials": (accbits, accbits, stages * one, pm * pn, floating.astype(f)),
        # the hold copy of the operand the loop order reuses (the other one is not built)
        "a_hold": (abits, pk * abits, rows_m * deep_k, pm, hold_a),
        "b_hold": (bbits, pk * bbits, deep_k * cols_n, pn, 1.0 - hold_a),
        # row stages: a group's rows as they arrive, PE_K (PE_N) elements per cycle per row
        "a_stage": (abits, abits, deep_k, pm * pk, one),  # load_a: act[PE_M][TILE_K]
        "bt_stage": (bbits, bbits, deep_k, pn * pk, one),  # load_b, B^T: [PE_N][TILE_K]
        "b_stage": (bbits, bbits, cols_n, pk * pn, one),  # load_b: [PE_K][TILE_N]
        "p_stage": (accbits, accbits, cols_n, pm * pn, one),  # load_p: acc[PE_M][TILE_N]
        # store_c: acc[PE_M][TILE_N], its rows cyclic by max(PE_N, lanes) (epilogue_banks)
        "c_stage": (accbits, accbits, np.ceil(tn / csf), pm * csf, one),
        # store_c's epilogue rows: float bias[TILE_N], act res[TILE_N], act out[TILE_N]
        "bias_row": (32.0 * one, 32.0 * one, np.ceil(tn / bf), bf, one),
        "res_row": (abits, abits, np.ceil(tn / rf), rf, one),
        "out_row": (abits, abits, np.ceil(tn / rf), rf, one),
        # the p_s FIFO of PE_M x PE_N accumulator blocks (kernel.cpp CBlock): one group of
        # PE_M rows in the DATAFLOW region, the whole C tile when the processes run in turn
        "p_s": (accbits, pm * pn * accbits, np.where(copies > 1, 1.0, rows_m) * cols_n, one, one),
        # compute's output FIFO of blocks to store_c, one C tile deep (double-buffered: the C
        # ping-pong, compute a tile ahead of store_c; single-buffered: compute writes the whole
        # tile before store_c starts)
        "c_s": (accbits, pm * pn * accbits, rows_m * cols_n, one, one),
    }
    if not template:
        for b in TEMPLATE_ONLY:
            geo[b] = (*geo[b][:4], 0.0 * one)
    # (len(BUFFERS), n) tables; depth in float64 (tile products can pass float32's 2^24)
    eb, wb, nb, cp = (np.empty((len(BUFFERS), n), dtype=np.float32) for _ in range(4))
    dp = np.empty((len(BUFFERS), n))
    for j, b in enumerate(BUFFERS):
        eb[j], wb[j], dp[j], nb[j], cp[j] = geo[b]
    # buffer_storage places the tile buffers; the vector unit's short rows never take URAM
    tile_rows = np.array([b not in NO_URAM for b in BUFFERS])[:, None]
    prim = bank_primitive(
        dp, use_uram[None, :] & tile_rows, lutram_max_depth=lg["lutram_max_depth"]
    )
    prim[BUFFERS.index("acc_partials")] = REGISTERS  # interleaved sums live in flip-flops
    bram1, uram1, lutram1 = _bank_costs(wb, dp, prim)
    phys = nb * cp  # physical banks
    buf_bram, buf_uram, buf_lutram = phys * bram1, phys * uram1, phys * lutram1
    regs = prim == REGISTERS
    buf_ff = np.where(regs, phys * wb * dp, 0.0)
    # a bank's address and read-mux logic: none for registers, but for those of MUXED buffers
    muxed = ~regs | np.array([b in MUXED for b in BUFFERS])[:, None]
    buf_lut = buf_lutram + np.where(muxed, phys * np.float32(lg["lut_per_bank"]), np.float32(0))

    # multipliers: the PE array (packed along pe_n for integers) and the vector lanes. A
    # published build with double-pumped DSPs (vendor RTL: PG367, PG338) does each DSP's MACs
    # twice per kernel cycle, so its PE array needs half the DSPs; dse's template does not pump
    # (no HLS route) and keeps one pass per cycle whatever double_pump says
    mpd = P.macs_per_dsp[wc, ac]
    macs = pm * pn * pk
    pump = np.ones(n, dtype=f)
    if not template and "double_pump" in d:
        pump = np.where(np.asarray(d["double_pump"]) > 0, 2.0, 1.0)
    # pairs of outputs share a DSP (a pumped DSP takes two pairs)
    packed = pm * pk * np.ceil(pn / np.maximum(mpd * pump, 1.0))
    dsp_pe = np.where(mpd >= 1.0, packed, np.ceil(macs / (mpd * pump)))
    lut_pe = macs * P.lut_per_mac[wc, ac]
    impl_pe = np.where(floating, IMPLEMENTATIONS.index("fp32_fmul_fadd"), 0)
    dsp_vec = lanes * lg["dsp_per_vector_lane"]
    lut_vec = lanes * lg["lut_per_vector_lane"]
    # float engines: tree_sum<ACC_SLOTS> of each PE output's partial sums, ACC_SLOTS - 1 fadds
    adders = np.where(floating & template, pm * pn * (stages - 1.0), 0.0)
    mul_macs = np.stack([macs, lanes, adders])
    mul_mpd = np.stack([
        mpd,
        np.where(dsp_vec > 0, lanes / np.maximum(dsp_vec, 1e-30), 0.0),
        np.full(n, 1.0 / FADD_DSP),
    ])  # fmt: skip
    mul_dsp = np.stack([dsp_pe, dsp_vec, adders * FADD_DSP])
    mul_lut = np.stack([lut_pe, lut_vec, adders * FADD_LUT])
    mul_impl = np.stack([
        impl_pe,
        np.full(n, IMPLEMENTATIONS.index("fp32_vector_lane")),
        np.full(n, IMPLEMENTATIONS.index("fp32_fadd")),
    ]).astype(np.int8)  # fmt: skip

    # AXI ports (one per channel of each stream after sharing) and their FIFOs
    share = np.asarray(d["share_weights"], dtype=bool)
    ss = d.get("share_streams")
    ss = np.zeros(n, dtype=bool) if ss is None else np.asarray(ss, dtype=bool)
    w_ch, i_ch, o_ch = stream_channels(d["pc_weights"], d["pc_inputs"], d["pc_outputs"], share, ss)
    ports = np.stack([np.broadcast_to(np.asarray(x, dtype=f), (n,)) for x in (w_ch, i_ch, o_ch)])
    act_set = np.maximum(ports[1], ports[2])
    port_count = np.where(
        ss, np.where(share, ports[0] + act_set, np.maximum(ports[0], act_set)), ports.sum(axis=0)
    )
    fifo_lut = port_count * PORT_BITS * np.ceil(FIFO_DEPTH / SRL_DEPTH)
    # m_axi data buffers: a write buffer on every output port; a read buffer on every other
    # port and on the first output port (kernel.cpp reads the partial sums back on it). With
    # share_streams the output ports are also the input (and weight) ports up to their count.
    readers = np.where(share, ports[1], np.maximum(ports[0], ports[1]))
    write_only = np.where(ss, np.maximum(ports[2] - readers, 0.0), ports[2] - 1.0)
    maxi_reads, maxi_writes = port_count - write_only, ports[2].copy()
    maxi_bram18 = (maxi_reads * maxi_buffer_bram18("read")
                   + maxi_writes * maxi_buffer_bram18("write"))
    control_lut = port_count * lg["lut_per_axi_port"] + lg["lut_per_cu"]

    dsp = mul_dsp.sum(axis=0)
    lut = mul_lut.sum(axis=0) + buf_lut.sum(axis=0) + fifo_lut + control_lut
    return Hardware(
        buf_element_bits=eb,
        buf_word_bits=wb,
        buf_depth=dp,
        buf_banks=nb,
        buf_copies=cp,
        buf_primitive=prim,
        buf_bram18=buf_bram,
        buf_uram=buf_uram,
        buf_lutram=buf_lutram,
        buf_lut=buf_lut,
        buf_ff=buf_ff,
        mul_macs=mul_macs,
        mul_macs_per_dsp=mul_mpd,
        mul_dsp=mul_dsp,
        mul_lut=mul_lut,
        mul_implementation=mul_impl,
        weight_code=wc,
        act_code=ac,
        ports=ports,
        port_count=port_count,
        fifo_lut=fifo_lut,
        maxi_read_buffers=maxi_reads,
        maxi_write_buffers=maxi_writes,
        maxi_bram18=maxi_bram18,
        control_lut=control_lut,
        dsp=dsp,
        bram18=buf_bram.sum(axis=0) + maxi_bram18,
        uram=buf_uram.sum(axis=0),
        lut=lut,
    )


# ---- one design -> plain dicts (design.json) -----------------------------------------------------


def _num(x: Any) -> int | float:
    """A JSON number: an int when whole."""
    v = float(x)
    return int(v) if v.is_integer() else v


def describe(
    platform: Platform,
    shapes: Shapes,
    design: Mapping[str, Any],
    *,
    channels: Mapping[str, list[int]] | None = None,
) -> dict[str, Any]:
    """The ``hardware`` section of one design's ``design.json`` (docs/hardware.md).

    Args:
        platform: the typed platform.
        shapes: the workload's shapes (:meth:`Shapes.of`).
        design: one design row (categoricals as strings, as in Parquet and design.json).
        channels: the memory channels of CU 0's streams (dse.allocation.channel_allocation),
            for each port's ``channel``; None leaves ``channel`` null.

    Returns:
        ``multipliers``, ``buffers``, ``axi_ports``, ``streams``, ``vector_lanes``,
        ``clock_domains`` and ``per_cu`` (``dsp``, ``bram18``, ``uram``, ``lut``).
    """
    from dse.params import PARAM_NAMES, UNIFORM_DEFAULTS
    from dse.space import design_batch

    params = {k: design[k] for k in PARAM_NAMES if k in design}
    batch = design_batch([params], platform, file="design", defaults=UNIFORM_DEFAULTS)
    hw = build(platform, shapes, batch)
    wname, aname = PRECISIONS[int(hw.weight_code[0])], PRECISIONS[int(hw.act_code[0])]
    multipliers = []
    for g, name in enumerate(MULTIPLIERS):
        impl = IMPLEMENTATIONS[int(hw.mul_implementation[g, 0])]
        multipliers.append(
            {
                "name": name,
                "weight_precision": wname if name == "pe" else "FP32",
                "act_precision": aname if name == "pe" else "FP32",
                "macs": _num(hw.mul_macs[g, 0]),
                "macs_per_dsp": _num(hw.mul_macs_per_dsp[g, 0]),
                "implementation": impl,
                "pumped": False,
                "dsp": _num(hw.mul_dsp[g, 0]),
                "lut": _num(hw.mul_lut[g, 0]),
            }
        )
    buffers = []
    for i, name in enumerate(BUFFERS):
        if hw.buf_copies[i, 0] == 0:
            continue
        buffers.append(
            {
                "name": name,
                "element_bits": _num(hw.buf_element_bits[i, 0]),
                "word_bits": _num(hw.buf_word_bits[i, 0]),
                "depth": _num(hw.buf_depth[i, 0]),
                "banks": _num(hw.buf_banks[i, 0]),
                "copies": _num(hw.buf_copies[i, 0]),
                "primitive": PRIMITIVES[int(hw.buf_primitive[i, 0])],
                "bram18": _num(hw.buf_bram18[i, 0]),
                "uram": _num(hw.buf_uram[i, 0]),
                "lutram_lut": _num(hw.buf_lutram[i, 0]),
                "lut": _num(hw.buf_lut[i, 0]),
                "ff": _num(hw.buf_ff[i, 0]),
            }
        )
    # m_axi bundles as dse.export names them: gmem_<arg> per stream port, or gmem_s<j> shared
    # by the streams that share channel j of their CU (share_streams)
    sharing = bool(design.get("share_streams", False))
    shared: tuple[str, ...] = ()
    if sharing:
        shared = ("inputs", "outputs") if bool(design["share_weights"]) else STREAMS
    bundles: dict[str, dict[str, Any]] = {}
    for s, stream in enumerate(STREAMS):
        ch = list(channels.get(stream, [])) if channels else []
        for j in range(int(hw.ports[s, 0])):
            name = f"gmem_s{j}" if stream in shared else f"gmem_{PORT_PREFIX[stream]}{j}"
            port = bundles.setdefault(
                name,
                {
                    "name": name,
                    "streams": [],
                    "width_bits": PORT_BITS,
                    "channel": ch[j] if j < len(ch) else None,
                },
            )
            port["streams"].append(stream)
            if stream == "outputs" and j == 0:
                port["ps"] = True  # the partial sums' read-back (kernel.cpp load_p)
    axi_ports = list(bundles.values())
    geometry = {"read": (MAXI_READ_WORDS, MAXI_READ_BITS),
                "write": (MAXI_WRITE_WORDS, MAXI_WRITE_BITS)}
    for p in axi_ports:  # the adapter's data buffers, one per direction the port moves
        reads = p.pop("ps", False) or any(s != "outputs" for s in p["streams"])
        dirs = ["read"] * reads + ["write"] * ("outputs" in p["streams"])
        p["data_buffers"] = [
            {"direction": d, "words": geometry[d][0], "width_bits": geometry[d][1],
             "primitive": "bram", "bram18": _num(maxi_buffer_bram18(d))}
            for d in dirs
        ]
    process = {"weights": "load_b", "inputs": "load_a", "outputs": "store_c"}
    streams = [
        {
            "name": f"{p['name']}_fifo",
            "between": [p["name"], "/".join(process[s] for s in p["streams"])],
            "width_bits": PORT_BITS,
            "depth": FIFO_DEPTH,
            "lut": PORT_BITS * int(np.ceil(FIFO_DEPTH / SRL_DEPTH)),
        }
        for p in axi_ports
    ]
    # the partial sums' FIFO between load_p and compute and compute's output FIFO to store_c,
    # costed as buffers p_s and c_s (their depth and storage are there)
    streams.extend(
        {
            "name": name,
            "between": between,
            "width_bits": _num(hw.buf_word_bits[BUFFERS.index(name), 0]),
            "depth": _num(hw.buf_depth[BUFFERS.index(name), 0]),
            "buffer": name,
            "lut": 0,
        }
        for name, between in (("p_s", ["load_p", "compute"]), ("c_s", ["compute", "store_c"]))
    )
    per_cu = {r: _num(v) for r, v in zip(RESOURCES, hw.per_cu()[0], strict=True)}
    return {
        "multipliers": multipliers,
        "buffers": buffers,
        "axi_ports": axi_ports,
        "streams": streams,
        "vector_lanes": _num(batch["vector_lanes"][0]),
        "clock_domains": [{"name": c, "mhz": _num(design["clock_mhz"])} for c in CLOCK_DOMAINS],
        "per_cu": {k: per_cu[k] for k in ("dsp", "bram18", "uram", "lut")},
    }
