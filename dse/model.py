"""The engine model: evaluate a batch of designs at once (numpy arrays, one element per design).

A design is one GEMM engine replicated as ``compute_units`` (CUs) over the SLRs; each CU is a PE
array of ``pe_m x pe_n x pe_k`` MACs per cycle with tiles ``tile_m x tile_n x tile_k``, a loop order
(``dataflow``), weight/activation precisions, memory channels per stream (HBM pseudo-channels
or DDR banks of the board's design memory, possibly shared) and a clock.
Steps (DESIGN.md "The model"):

1. compute: the PE array steps through each tile clipped to its real extent rounded up to the PE
   factors (runtime trip counts), so a GEMM takes ceil(M/pe_m) ceil(N/pe_n) ceil(K/pe_k) steps,
   plus the pipeline fill once per tile (ceil(M/tm) ceil(N/tn) ceil(K/tk) tiles);
2. traffic: each operand is re-fetched by the loop it does not index whenever that loop sits
   outside a loop it does index that really iterates (trip count > 1); k-outer orders spill
   partial sums (read + write in accumulator precision);
3. bandwidth: per stream, from its channels, burst length and lateral access (dse.channels);
   streams that share channels take turns on them;
4. overlap: double-buffered kernels take max(compute, streams, epilogue) + first load + last
   store; without double buffering compute and transfers serialise;
5. vector work (LayerNorm, softmax, GELU, ...) on a vector unit of ``vector_lanes`` lanes;
   epilogues (bias, GELU, residual; softmax when attention is fused) ride on their GEMM's output;
6. cameras: the images of one policy call are shared among CUs (whole images first; CUs that
   share one image split its heads or its output columns);
7. resources: DSP from PEs and packing, BRAM/URAM from buffer geometry (dse.memory), LUT
   estimates; per SLR, after the shell and the margin;
8. feasibility: the binding violation as a code and every violation with its figure
   (:func:`violation_text` and :func:`violations_text` turn them into words).

Units: seconds inside, ``*_ms`` in the output columns, bytes, bytes/s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dse.capacity import channel_mib
from dse.channels import channels_used, port_cap_gbps, ports_per_cu, stream_channels
from dse.hardware import Shapes, build
from dse.params import DATAFLOWS, KERNEL_CLASSES, PRECISIONS
from dse.platform import RESOURCES, Platform
from dse.power import power_columns
from dse.timing import (
    DEFAULT_STEP_MHZ,
    ClockPolicy,
    choose_clock,
    crossings,
    fmax_mhz,
    raw_fractions,
)
from dse.workload import GEMM, Kernel, Workload

#: What limits a kernel or a design (``bound`` column).
BOUNDS = ("compute", "weights", "inputs", "outputs", "vector")

#: Violation codes; 0 = feasible. Per-SLR resource codes are 10 + SLR * 4 + resource index;
#: SLL codes are 50 + boundary index (boundary b joins SLR b and SLR b + 1).
#: ``VIOLATION_PCS`` counts channels of the design memory (HBM PCs or DDR banks);
#: ``VIOLATION_TIMING``: clock_mhz above the design's achievable clock (dse.timing), whose limit
#: differs per design (``Result.limits``).
VIOLATION_CLOCK, VIOLATION_PUMP, VIOLATION_PCS, VIOLATION_PORTS = 1, 2, 3, 4
VIOLATION_TIMING = 5
#: MiB the fullest memory channel holds (the exported host's buffers, dse.capacity) above the
#: channel's capacity (``memories.<kind>.channel_mib``).
VIOLATION_CAPACITY = 9
VIOLATION_SLL = 50

#: Designs evaluated together; keeps temporaries in cache.
CHUNK = 65536

#: Platform constants a batch may carry one per design (``Model.evaluate(constants=...)``):
#: ``logic.pipeline_fill_cycles``, ``logic.epilogue_overlap`` and the design memory's
#: ``read_latency_ns``. The model reads each in one place only (:class:`_Batch`), so a batch
#: with per-design values gives every design the figures of a batch run on the platform with
#: its values (the calibration's latency fit tries many at once, dse.fit). The read latency
#: reaches the burst formulas in float32, so it and its quotient by ``outstanding`` must be
#: float32-exact for the figures to be bit for bit those of the platform's own value.
PER_DESIGN_CONSTANTS = ("pipeline_fill_cycles", "epilogue_overlap", "read_latency_ns")

# position of loops m, n, k in each dataflow (0 = outermost)
_POS = np.array([[order.index(c) for c in "mnk"] for order in DATAFLOWS], dtype=np.int8)

#: Arithmetic precision of the model's arrays (7 significant digits; results are stored as float64).
DT = np.float32


#: Lane passes per row of a stand-alone vector operation, as vector.cpp runs them (each pass is
#: ceil(n / vector_lanes) cycles): dequantise and quantise (2) plus LayerNorm's mean, centred
#: squares and normalise (3), softmax's max, exp-and-sum and divide (3), GELU's or the residual's
#: element pass (1; the residual also dequantises its second row); the pixel shuffle copies its
#: input rows once. Unlisted operations: one element pass (3).
VECTOR_LANE_PASSES = {
    "layernorm": 5,
    "softmax": 5,
    "gelu": 3,
    "residual": 4,
    "pixel_shuffle": 1,
}


def _words(nb, aligned):
    """Bytes a burst of a row of ``nb`` bytes moves: whole 64-byte words, one more on average
    for the fraction ``1 - aligned`` of rows that start inside a word."""
    return 64.0 * (np.ceil(nb / 64.0) + (1 - aligned))


def _aligned(nb):
    """1.0 where a stride of ``nb`` bytes keeps rows on word boundaries, else 0.0."""
    x = nb * (1 / 64.0)  # exact: byte counts are multiples of 1/2, 64 a power of two
    return (x == np.floor(x)).astype(DT)


def _mid_words(t, T):
    """Bytes the middle tiles (1 .. T-2) of a row of ``T`` tiles of ``t`` bytes (a whole number)
    move on average, the row starting on a word: tile j at byte ``j t`` takes
    ``floor(((j+1) t - 1) / 64) - floor(j t / 64) + 1`` words, which sum (telescoping) to
    ``floor((T-1) t / 64) - floor(t / 64) + (T-2)`` less the ends ``i t`` (i = 2 .. T-1) that fall
    on a word, one in every ``64 / gcd(t, 64)`` (32-byte tiles: one word each, where counting
    "one more for a tile that starts inside a word" gave two)."""
    ti = np.asarray(np.where(np.isfinite(t), t, 64.0), dtype=np.int64)
    tt = np.asarray(np.maximum(T, 3.0), dtype=np.int64)
    p = 64 // np.gcd(ti, 64)
    s = (tt - 1) * ti // 64 - ti // 64 - ((tt - 1) // p - 1 // p) + (tt - 2)
    return 64.0 * s.astype(DT) / (tt - 2).astype(DT)


def _tiled_row_s(
    b, nch, lat, width_b, tile_b, T, row_al, alt, slice_b=0.0, split=1.0, with_last=False,
    row_b=None,
):
    """Seconds to move one matrix row of ``width_b`` bytes as the kernel does: one burst per
    tile, ``T`` tiles of ``tile_b`` bytes of which the last holds the rest (a ragged last tile
    is a burst of its own, however narrow: a latency-bound burst costs its latency whatever it
    carries); ``nch`` x 1e9 channels, ``lat`` seconds per burst, ``b``: the batch.

    Bursts move whole 64-byte words. Where the matrix rows start on words (``row_al`` 1) the
    first and the last tile's words are counted from their offsets (a 4-byte tile at byte 60 is
    one word); a middle tile moves one word more unless every start is on a word (``alt``: the
    tile width is). Rows that do not start on words move one word more per tile. ``split`` CUs
    share the row, CU c's slice (``slice_b`` bytes) starting at byte ``c * slice_b``: the step
    waits for its slowest CU, so a tile moves the most words any CU's does. ``row_b``: the
    matrix row's bytes, of which the last CU's slice holds the rest (43, 43 and 42 columns of
    128: the last slice ends on the row's end), where given.

    Equal to ``T`` bursts of the average tile when the tiles divide the row. ``with_last``: also
    the last tile's burst alone (the whole row's where ``T`` is 1), as a pair ``(row, last)``."""

    def burst_s(w):
        return w / b.bw(nch, w, lat)

    last_b = width_b - (T - 1) * tile_b
    many = T > 1
    some_many = bool(np.any(many))
    first_b = np.where(many, tile_b, last_b) if some_many else last_b
    cu = np.arange(int(np.max(split)), dtype=DT)[:, None]  # a CU's index: axis 0
    live = cu < split
    s0 = cu * slice_b

    cu_al = np.all(np.where(live, np.mod(s0, 64.0) == 0, True), axis=0)
    every_al = bool(np.all(cu_al))

    # the last CU's slice is shorter by `short` bytes: its last tile (its only one, T = 1)
    short = 0.0 if row_b is None else np.maximum(split * slice_b - row_b, 0.0)
    last_cu = cu == split - 1

    def most_words(offset, nb, last=False):
        if every_al:  # every CU's slice starts on a word: each moves the first CU's words
            # (the first CU's start, 0, in s0's dtype: the same arithmetic as below; a shorter
            # last slice moves no more)
            return 64.0 * (np.floor((np.mod(s0[0] + offset, 64.0) + nb - 1) / 64.0) + 1)
        nb_c = np.where(last_cu, nb - short, nb) if last else nb
        w = np.floor((np.mod(s0 + offset, 64.0) + nb_c - 1) / 64.0) + 1
        w = np.where(nb_c > 0, w, 0.0)
        return 64.0 * np.max(np.where(live, w, 0.0), axis=0)

    w0 = most_words(0.0, first_b, True)  # the whole slice in one tile: the last CU's shorter
    if some_many and row_b is not None:
        w0 = np.where(many, most_words(0.0, first_b), w0)
    w_first = np.where(row_al > 0, w0, _words(first_b, 0.0))
    if not some_many:  # one tile per row: its burst alone
        one = burst_s(w_first)
        return (one, one) if with_last else one
    w_last = np.where(row_al > 0, most_words((T - 1) * tile_b, last_b, True), _words(last_b, 0.0))
    w_mid = _words(tile_b, row_al * cu_al * alt)
    on_words = (row_al > 0) & cu_al & (np.mod(tile_b, 1.0) == 0) & (T > 2)
    if np.any(on_words):  # every start on a word: the middle tiles' own words
        w_mid = np.where(on_words, _mid_words(tile_b, T), w_mid)
    s_first, s_last = burst_s(w_first), burst_s(w_last)
    row = s_first + np.where(T > 1, np.maximum(T - 2, 0) * burst_s(w_mid) + s_last, 0.0)
    return (row, np.where(T > 1, s_last, s_first)) if with_last else row


#: How a build's operands lie in off-chip memory (``Model(operand_layout=...)``): ``rows``,
#: row-major matrices read one burst per tile row (dse's kernel template, kernel.cpp); ``tiles``,
#: stored by the host tile by tile in the order the kernel reads them, so each operand is one
#: sequential stream (AutoSA's ``--host-serialize``: ``A_IO_L3_in_serialize`` reads A[i] for
#: i = 0 .. 67,583 in one pipelined loop, autosa_tests/large/mm_int8/kernel_kernel_opt.cpp).
OPERAND_LAYOUTS = ("rows", "tiles")


def _streamed_row_s(
    b, nch, lat, width_b, tile_b, T, row_al=None, alt=None, slice_b=0.0, split=1.0,
    with_last=False, row_b=None,
):
    """Seconds to move one matrix row of ``width_b`` bytes when the operand is one sequential
    stream (``operand_layout`` ``tiles``): its bytes in the longest bursts the memory takes
    (``max_burst_bytes``), whatever the tiles; the arguments as :func:`_tiled_row_s`'s (the
    alignment and CU-slice ones do not change a sequential stream). ``with_last``: also the
    last tile's share of the row, ``width_b - (T - 1) tile_b`` bytes, at the same rate."""
    rate = b.bw(nch, b.maxb, lat)
    row = width_b / rate
    if not with_last:
        return row
    return row, (width_b - (T - 1) * tile_b) / rate


def loops_outside(pos_m, pos_n, pos_k) -> tuple[np.ndarray, ...]:
    """ "Loop x sits outside loop y" for the six pairs the re-fetch rule needs:
    (n outside m, n outside k, m outside k, m outside n, k outside m, k outside n)."""
    return (
        pos_n < pos_m,
        pos_n < pos_k,
        pos_m < pos_k,
        pos_m < pos_n,
        pos_k < pos_m,
        pos_k < pos_n,
    )


def refetch(outside, Tm, Tn, Tk):
    """Re-fetch multipliers of A (M x K), B (K x N) and the partial-sum spill count of C.

    An operand's tile changes, and must be fetched again, whenever the loop it does not index
    (A: n, B: m, C: k) advances while a loop it does index that sits inside it really iterates
    (trip count > 1). So A is read ``Tn`` times when n is outside an iterating m or k loop, once
    otherwise; B is read ``Tm`` times likewise; C spills ``Tk - 1`` partial sums (each written and
    read back) when k is outside an iterating m or n loop. With tiles covering the matrices every
    trip count is 1 and every operand crosses the memory boundary exactly once.

    Args:
        outside: the tuple from :func:`loops_outside`.
        Tm, Tn, Tk: trip counts (tiles along m, n, k).
    """
    n_m, n_k, m_k, m_n, k_m, k_n = outside
    it_m, it_n, it_k = Tm > 1, Tn > 1, Tk > 1
    mult_a = 1 + ((n_m & it_m) | (n_k & it_k)) * (Tn - 1)
    mult_b = 1 + ((m_k & it_k) | (m_n & it_n)) * (Tm - 1)
    spill = ((k_m & it_m) | (k_n & it_n)) * (Tk - 1)
    return mult_a, mult_b, spill


def gemm_traffic(
    M, K, N, tile_m, tile_n, tile_k, dataflow, *, a_bytes, b_bytes, out_bytes, acc_bytes
):
    """Bytes moved for A, B and C of one GEMM with the given tiles and loop order (a string
    such as ``"mnk"`` or an array of dataflow codes). Used by the tests and the docs; the model
    runs the same :func:`refetch` rule inline."""
    codes = np.asarray([DATAFLOWS.index(dataflow)] if isinstance(dataflow, str) else dataflow)
    pos = _POS[codes]
    Tm = np.ceil(M / np.asarray(tile_m, dtype=float))
    Tn = np.ceil(N / np.asarray(tile_n, dtype=float))
    Tk = np.ceil(K / np.asarray(tile_k, dtype=float))
    mult_a, mult_b, spill = refetch(loops_outside(pos[:, 0], pos[:, 1], pos[:, 2]), Tm, Tn, Tk)
    return (
        M * K * a_bytes * mult_a,
        K * N * b_bytes * mult_b,
        M * N * (out_bytes + 2 * spill * acc_bytes),
    )


@dataclass
class Result:
    """Arrays of one evaluated batch (length n) plus optional per-kernel detail.

    Attributes:
        columns: latency_ms, latency_per_image_ms, images_per_s, achieved_tops, peak_fraction,
            dsp, bram18, uram, lut (device totals), util_* (each resource's fraction of its
            fullest SLR, after shell and margin), utilization (the largest util_*), binding (code
            ``slr * 4 + resource`` of that SLR and resource), bound (code into BOUNDS), feasible,
            violation_code, violation_used, violation_limit, clock_mhz (the clock each design
            ran at: the clock policy's choice), fmax_mhz and fmax_margin_mhz (fmax - clock),
            bytes_per_call (off-chip traffic), power_w, energy_mj and energy_per_image_mj
            (dse.power).
        kernel_names: names of the workload's kernels.
        kernel_ms: (n, n_kernels) milliseconds per image per kernel (detail only).
        kernel_bound: (n, n_kernels) bound codes (detail only).
        slr_used: (n, n_slr, 4) resources per SLR in RESOURCES order (detail only).
        mapping: the runtime tile divisors the mapper chose, one array per
            ``tile_{m,n}_div_<class>`` parameter (None without a mapper: designs ran as given).
        violations: every violation, not only the binding one: per violation code that occurs
            in the batch, the used figure of each design (NaN where that limit holds); the
            limits are the platform's (:func:`violation_limits`) except where ``limits`` has
            the code.
        limits: per-design limits of the codes whose limit is not the platform's
            (``VIOLATION_TIMING``: each design's fmax_mhz).
    """

    columns: dict[str, np.ndarray]
    kernel_names: tuple[str, ...]
    kernel_ms: np.ndarray | None = None
    kernel_bound: np.ndarray | None = None
    slr_used: np.ndarray | None = None
    mapping: dict[str, np.ndarray] | None = None
    violations: dict[int, np.ndarray] | None = None
    limits: dict[int, np.ndarray] | None = None


class _Floats(dict):
    """Parameter arrays converted to the model's float type on first use."""

    def __init__(self, d: dict[str, np.ndarray]) -> None:
        super().__init__()
        self._src = d

    def __missing__(self, key: str) -> np.ndarray:
        value = np.asarray(self._src[key], dtype=DT)
        self[key] = value
        return value

    def get(self, key: str, default=None):
        return self[key] if key in self or key in self._src else default


class _Batch:
    """Per-batch derived arrays shared by the kernel formulas (all float64).

    Built in two steps: what the hardware fixes (here), then, once the clock is chosen from the
    resources and the crossings (:meth:`Model._evaluate`), what depends on it (:meth:`set_clock`).
    """

    def __init__(self, model: Model, d: dict[str, np.ndarray],
                 constants: Mapping[str, np.ndarray] | None = None) -> None:
        P, lg = model.platform, model.platform.logic
        fl = _Floats(d)
        self.d = fl
        self.lg = lg
        self.mem = P.memory
        self.timing = P.timing
        self.n = n = len(np.asarray(d["compute_units"]))
        # per-class precisions: code 0 ('same') follows the engine default; PRECISIONS run from
        # the widest (code 0) to the narrowest, so the engine's widest mode is the smallest code
        wdef = np.asarray(d["weight_precision"], dtype=np.intp)
        adef = np.asarray(d["act_precision"], dtype=np.intp)
        self.cls_code: dict[str, np.ndarray] = {}
        for c in KERNEL_CLASSES:
            default = adef if c == "attention" else wdef
            code = d.get(f"prec_{c}")
            if code is None or not np.any(code):  # every design: 'same'
                self.cls_code[c] = default
            else:
                code = np.asarray(code, dtype=np.intp)
                self.cls_code[c] = np.where(code == 0, default, code - 1)
        wc = np.minimum.reduce([self.cls_code[c] for c in KERNEL_CLASSES if c != "attention"])
        ac = np.minimum(adef, self.cls_code["attention"])
        self.wc, self.ac = wc, ac
        bits = P.prec_bits.astype(DT)
        # bytes per element in memory: INT4 travels as one byte per element (the host's arenas
        # hold one element per byte, docs/kernel.md), so nothing narrower than a byte
        self.bytes_of = np.maximum(bits, DT(8)) / 8
        self.wbits, self.abits = bits[wc], bits[ac]
        self.accbits = P.acc_bits.astype(DT)[wc, ac]
        self.wb, self.ab = self.bytes_of[wc], self.bytes_of[ac]
        self.accb = self.accbits / 8
        # activations between kernels: the exported kernel's arenas hold act_t, the engine's
        # widest activation precision (the default's or the attention class's: dse.export)
        self.act_b = self.ab
        self.pm, self.pn, self.pk = fl["pe_m"], fl["pe_n"], fl["pe_k"]
        self.tm, self.tn, self.tk = fl["tile_m"], fl["tile_n"], fl["tile_k"]
        pos = _POS[np.asarray(d["dataflow"], dtype=np.intp)]
        pm_, pn_, pk_ = pos[:, 0], pos[:, 1], pos[:, 2]
        # "loop x sits outside loop y" for the pairs the re-fetch rule needs
        self.loops_outside = loops_outside(pm_, pn_, pk_)
        self.pos = (pm_, pn_, pk_)  # each loop's depth (0: outermost)
        self.cu = fl["compute_units"]
        self.fuse = np.asarray(d["fuse_attention"], dtype=bool)
        self.unfused = (~self.fuse).astype(DT)
        self.dbuf = np.asarray(d["double_buffer"], dtype=bool)
        self.dbuf_f = self.dbuf.astype(DT)
        self.share = np.asarray(d["share_weights"], dtype=bool)
        ss = d.get("share_streams")
        self.share_streams = (
            np.zeros(n, dtype=bool) if ss is None else np.asarray(ss, dtype=bool)
        )
        # shared channels serve the streams in turn: the activations' times add up when they
        # share, and the weights' too when all of a CU's streams share one set (DT 0/1 flags)
        self.any_share_streams = bool(self.share_streams.any())
        self.ss_act = self.share_streams.astype(DT)
        self.ss_all = (self.share_streams & ~self.share).astype(DT)
        cams = model.workload.cameras
        self.g = np.maximum(np.floor(self.cu / cams), DT(1))  # CUs per image
        self.rounds = np.ceil(cams / np.minimum(self.cu, DT(cams)))  # sequential image rounds
        const = constants or {}  # PER_DESIGN_CONSTANTS given per design
        fill = const.get("pipeline_fill_cycles")
        self.fill = DT(lg["pipeline_fill_cycles"]) if fill is None else np.asarray(fill, DT)
        # vector work beside the PE array that does not overlap it (0: all overlaps), and the
        # host's launch of one kernel call (s); both optional in the platform file
        ov = const.get("epilogue_overlap")
        self.no_overlap = (DT(1.0 - float(lg.get("epilogue_overlap", 1.0))) if ov is None
                           else (1.0 - np.asarray(ov, dtype=np.float64)).astype(DT))
        rl = const.get("read_latency_ns")
        self.read_latency_ns = (P.memory.read_latency_ns if rl is None
                                else np.asarray(rl, dtype=np.float64))
        self.launch_s = float(lg.get("launch_us", 0.0)) * 1e-6
        # per GEMM shape: output columns on one CU and PE-array steps (tile-independent)
        self._steps: dict[tuple, tuple] = {}
        mem = P.memory
        # SLR crossings: SLLs per boundary, and the boundaries the farthest CU crosses
        self.slls, self.hops = crossings(P, d, floats=fl)
        # shared weights: every CU reads one copy at once, and all but one CU cross the switch
        readers = 1 + self.share * (self.cu - 1)
        lateral = 1 - 1 / readers
        lat_factor = 1 / ((1 - lateral) + lateral / mem.lateral_efficiency)
        if self.any_share_streams:  # each stream striped over its CU's shared channel set
            ch_w, ch_in, ch_out = (
                x.astype(DT)
                for x in stream_channels(
                    d["pc_weights"], d["pc_inputs"], d["pc_outputs"], self.share,
                    self.share_streams,
                )
            )
        else:
            ch_w, ch_in, ch_out = fl["pc_weights"], fl["pc_inputs"], fl["pc_outputs"]
        # channels x 1e9 (GB/s -> B/s)
        self.n_w = ch_w * lat_factor / readers * 1e9
        self.n_in = ch_in * 1e9
        self.n_out = ch_out * 1e9
        self.maxb = DT(mem.max_burst_bytes)
        self._views: dict[str, _ClassView] = {}
        given = np.asarray(d["clock_mhz"])
        if n and (given > 0).all():  # designs with their own clock: usable as they are
            self.set_clock(fl["clock_mhz"])

    def set_clock(self, clock_mhz: np.ndarray) -> None:
        """The arrays that depend on the kernel clock (MHz, one per design): the clock in Hz,
        the vector unit's rate, the AXI port cap and the crossings' latency."""
        mem, d = self.mem, self.d
        clk = np.asarray(clock_mhz, dtype=DT)
        self.clock_mhz = clk
        self.f = clk * DT(1e6)
        self.lanes_f = d["vector_lanes"] * self.f
        self.rate = np.minimum(mem.channel_measured_gbps, port_cap_gbps(mem, clk))
        # the registered crossings' round trip (request out, data or response back) added to
        # every transaction of the farthest CU (ns)
        rl = self.read_latency_ns  # the memory's (a Python float) or one per design
        per_design = isinstance(rl, np.ndarray)
        if self.hops.any():
            extra = (2 * self.timing.crossing_cycles * 1e3) * self.hops.astype(DT) / clk
            self.lat_r = ((rl.astype(DT) if per_design else rl) + extra) / mem.outstanding
            self.lat_w = (mem.write_latency_ns + extra) / mem.outstanding
        else:
            self.lat_r = (rl / mem.outstanding).astype(DT) if per_design else rl / mem.outstanding
            self.lat_w = mem.write_latency_ns / mem.outstanding
        self.bw_in_stream = self.bw(self.n_in, self.maxb, self.lat_r)
        self.bw_out_stream = self.bw(self.n_out, self.maxb, self.lat_w)
        # A's row bursts by K (Model._gemm): they depend on the k tile, the input stream and
        # the clock only, not on the runtime m and n tiles the mapper tries; B's, C's and the
        # residual's by the mapper's n tile (their rows are n-tiled), whatever its m tile
        self._a_rows: dict[float, tuple] = {}
        self._n_rows: dict[tuple, np.ndarray] = {}

    def remap(self, mapping: dict[str, np.ndarray]) -> None:
        """Run with the runtime tile divisors ``mapping``: only the class views depend on them."""
        self.d._src = {**self.d._src, **mapping}
        for key in mapping:
            self.d.pop(key, None)  # converted again from the new source on first use
        self._views.clear()

    def view(self, cls: str) -> _ClassView:
        """The tiles and element bytes a kernel class runs with."""
        if cls not in self._views:
            self._views[cls] = _ClassView(self, cls)
        return self._views[cls]

    def bw(self, nch, burst, lat):
        """Bytes/s of a stream of ``nch`` x 1e9 channels for bursts of ``burst`` bytes."""
        b = np.minimum(burst, DT(self.maxb))
        return nch * b / (b / self.rate + lat)


class _ClassView:
    """Runtime tiles and element bytes of one kernel class (runtime tiling, mixed precision).

    The class runs tiles of ``tile / divisor`` rounded down to a multiple of the PE factor (at
    least one PE step) inside the engine's buffers; the engine keeps its widest datapath.
    """

    def __init__(self, b: _Batch, cls: str, divisors: tuple | None = None) -> None:
        d = b.d
        self.tm, self.tn, self.tk = b.tm, b.tn, b.tk
        # the mapper's views with the same n divisor have the same n tiles (Model._gemm keeps
        # the row times that depend on them by this key); None: a view of the batch's own tiles
        self.n_key = None if divisors is None else (cls, float(divisors[1]))
        if cls in KERNEL_CLASSES:
            if divisors is None:
                div_m = d.get(f"tile_m_div_{cls}")
                div_n = d.get(f"tile_n_div_{cls}")
            else:  # the mapper trying a runtime tile
                div_m, div_n = (np.asarray(x, dtype=DT) for x in divisors)
            if div_m is not None and (div_m != 1).any():
                self.tm = np.maximum(b.pm, np.floor(b.tm / (div_m * b.pm)) * b.pm)
            if div_n is not None and (div_n != 1).any():
                self.tn = np.maximum(b.pn, np.floor(b.tn / (div_n * b.pn)) * b.pn)
        # Element bytes in memory are the engine's: the exported kernel stores and moves every
        # class's weights as weight_t and every activation (Q, K, V, P included) as act_t, the
        # widest precisions in use (dse.export.engine_precisions). A narrower class quantises
        # its values (quality) but moves as many bytes (MODEL_VERSION 2.2.0; before, the model
        # credited it the class's own width, which the kernel never built: docs/kernel.md).
        if cls == "attention":  # Q, K, V, P
            self.a_b = self.b_b = self.c_b = b.ab
        else:  # activations in, weights, activations out
            self.a_b, self.b_b, self.c_b = b.ab, b.wb, b.ab


class Model:
    """The analytic model of one platform running one workload.

    Args:
        platform: the typed platform.
        workload: the kernel table.
        tile_divisors: runtime tile divisors the mapper may choose from for every kernel class
            (``tile_{m,n}_div_<class>``); None or empty: no mapper, designs run as given.
        clock: how every design's clock is set (dse.timing.ClockPolicy: the highest that closes
            timing on a grid of steps, or pinned); None: designs run at their ``clock_mhz``,
            and those without one (CLOCK_UNSET, 0) get the per-design clock.
        template: the designs are built from dse's kernel template (default), so their CU has
            the template's own staging (dse.hardware.TEMPLATE_ONLY: the loaders' row stages,
            the hold copy, the epilogue rows, the p_s FIFO, the float slot adders). False for a
            published build expressed in the tool's parameters (the calibration): its own
            structure has none of these.
    """

    def __init__(
        self,
        platform: Platform,
        workload: Workload,
        *,
        tile_divisors: Sequence[int] | None = None,
        clock: ClockPolicy | None = None,
        template: bool = True,
        operand_layout: str = "rows",
    ) -> None:
        if operand_layout not in OPERAND_LAYOUTS:
            raise ValueError(f"operand_layout {operand_layout!r}: one of {OPERAND_LAYOUTS}")
        self.platform = platform
        self.workload = workload
        self.clock = clock
        self.template = template
        self.operand_layout = operand_layout
        self.tile_divisors = tuple(sorted(set(int(x) for x in tile_divisors or ())))
        kernels = workload.kernels
        self.kernel_names = tuple(k.name for k in kernels)
        self._epi_ops = {k.name: 0.0 for k in kernels}
        for k in kernels:
            if k.epilogue_of:
                self._epi_ops[k.epilogue_of] += k.ops_per_element
        # GEMMs whose epilogue adds a residual: the store reads its rows on the input ports
        self._residual = {k.epilogue_of for k in kernels if k.epilogue_of and k.op == "residual"}
        soft = [k for k in kernels if k.attention and k.kind != GEMM]
        self._softmax_ops = soft[0].ops_per_element if soft else 0.0
        att = [k for k in kernels if k.attention and k.kind == GEMM]
        self._score_kernel = att[0].name if att else None
        self._heads = att[0].instances if att else 1
        self._shapes = Shapes.of(workload)
        self.ops_per_call = workload.ops_per_image * workload.cameras

    # ------------------------------------------------------------------ public
    def evaluate(self, d: dict[str, np.ndarray], *, detail: bool = False,
                 constants: Mapping[str, np.ndarray] | None = None) -> Result:
        """Evaluate designs given as parameter arrays (categoricals as integer codes).

        With a mapper (``tile_divisors``), each design's runtime tiles are chosen first and its
        ``tile_{m,n}_div_<class>`` values in ``d`` are ignored; ``Result.mapping`` holds them.

        Args:
            d: one array per parameter of dse.params.PARAMS, all of length n.
            detail: also return per-kernel times and bounds and per-SLR resources.
            constants: some of :data:`PER_DESIGN_CONSTANTS`, one value per design (length n),
                in place of the platform's.
        """
        n = len(np.asarray(d["clock_mhz"]))
        constants = dict(constants or {})
        unknown = set(constants) - set(PER_DESIGN_CONSTANTS)
        if unknown:
            raise ValueError(f"constants {sorted(unknown)}: only {PER_DESIGN_CONSTANTS}")
        if n <= CHUNK:
            return self._evaluate(d, detail, constants)
        parts = [
            self._evaluate({k: np.asarray(v)[s : s + CHUNK] for k, v in d.items()}, detail,
                           {k: np.asarray(v)[s : s + CHUNK] for k, v in constants.items()})
            for s in range(0, n, CHUNK)
        ]
        cols = {k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns}
        mapping = (
            {k: np.concatenate([p.mapping[k] for p in parts]) for k in parts[0].mapping}
            if parts[0].mapping is not None
            else None
        )
        viol: dict[int, np.ndarray] = {}
        for c in sorted({c for p in parts for c in p.violations}):
            viol[c] = np.concatenate(
                [p.violations.get(c, np.full(len(p.columns["latency_ms"]), np.nan)) for p in parts]
            )
        limits = {
            c: np.concatenate([p.limits[c] for p in parts]) for c in (parts[0].limits or {})
        }
        if not detail:
            return Result(
                cols, self.kernel_names, mapping=mapping, violations=viol, limits=limits
            )
        return Result(
            cols,
            self.kernel_names,
            *(
                np.concatenate([getattr(p, a) for p in parts])
                for a in ("kernel_ms", "kernel_bound", "slr_used")
            ),
            mapping=mapping,
            violations=viol,
            limits=limits,
        )

    # ----------------------------------------------------------------- internals
    def _evaluate(self, d: dict[str, np.ndarray], detail: bool,
                  constants: Mapping[str, np.ndarray] | None = None) -> Result:
        # the hardware first: resources and crossings fix fmax, fmax fixes the clock, and the
        # clock the clock-dependent terms (port cap, crossing latency, vector rate, compute)
        b = _Batch(self, d, constants)
        per_cu = self._resources(b)
        fmax = self._fmax(b, per_cu)
        b.set_clock(self._clock(b, fmax))
        mapping = None
        if self.tile_divisors:
            mapping = self._map_tiles(b)
            b.remap(mapping)
        n = b.n
        names = self.kernel_names
        kt = np.zeros((n, len(names))) if detail else None
        kb = np.full((n, len(names)), BOUNDS.index("vector"), dtype=np.int8) if detail else None
        total = np.zeros(n, dtype=DT)
        # time per bound: each kernel's time goes to the bound that limits it (its busiest
        # part), so `bound` names where most of the time is spent, as the breakdown plot shows
        cache: dict[tuple, tuple] = {}
        key_time: dict[tuple, np.ndarray] = {}
        for i, k in enumerate(self.workload.kernels):
            if k.kind != GEMM and k.epilogue_of:
                continue  # rides on its GEMM's output tiles
            key = self._kernel_key(k)
            if key not in cache:
                t_inst, comps = self._gemm(k, b) if k.kind == GEMM else self._vector(k, b)
                live = [j for j, c in enumerate(comps) if not isinstance(c, float)]
                cache[key] = t_inst, _limiting(comps, n), live
            t_inst, limit, _ = cache[key]
            t = (t_inst + b.launch_s) * self._count(k, b)
            total += t
            key_time[key] = key_time[key] + t if key in key_time else t
            if detail:
                kt[:, i] = t * 1e3
                kb[:, i] = limit
        parts = np.zeros((len(BOUNDS), n), dtype=DT)
        for key, t in key_time.items():
            _, limit, live = cache[key]
            for j in live:  # a bound with no part in the kernel never limits it
                parts[j] += t * (limit == j)

        latency_s = total * b.rounds
        cols: dict[str, np.ndarray] = {
            "latency_ms": latency_s * 1e3,
            "latency_per_image_ms": total * 1e3,
            "images_per_s": self.workload.cameras / latency_s,
            "achieved_tops": self.ops_per_call / latency_s / 1e12,
            "peak_fraction": self.ops_per_call
            / latency_s
            / (b.cu * b.pm * b.pn * b.pk * 2.0 * b.f),
            "bound": np.argmax(parts, axis=0).astype(np.int8),
        }
        cols["quality_loss"] = self._quality(b)
        # bytes to and from off-chip memory per call (every CU, every image): the board power
        # model's memory term (dse.power)
        cols["bytes_per_call"] = (self._traffic(b) * self.workload.cameras).astype(DT)
        slr_used, viol = self._feasibility(b, per_cu, cols, detail)
        # board power and energy per call (dse.power; NaN without the board's power model), in
        # the model's precision like every other figure (the stored float64 columns compress
        # as the others do)
        power = power_columns(self.platform.raw, cols, self.workload.cameras)
        cols.update({k: v.astype(DT) for k, v in power.items()})
        limits = {VIOLATION_TIMING: cols["fmax_mhz"]}
        return Result(cols, names, kt, kb, slr_used, mapping, viol, limits)

    def _kernel_key(self, k: Kernel) -> tuple:
        """What a kernel's time per execution depends on (kernels with equal keys share it)."""
        return (
            k.kind,
            k.cls,
            k.m,
            k.k,
            k.n,
            k.instances,
            k.weight_operand,
            k.attention,
            self._epi_ops.get(k.name, 0.0),
            k.name == self._score_kernel,
            k.name in self._residual,
            k.ops_per_element,
            k.read_elems,
            k.write_elems,
            k.op,
        )

    @staticmethod
    def _count(k: Kernel, b: _Batch) -> np.ndarray | float:
        """Sequential executions of a kernel per image on one CU."""
        if k.instances > 1:  # heads split over the CUs that share one image
            return (k.count // k.instances) * np.ceil(k.instances / b.g)
        return float(k.count)

    def _map_tiles(self, b: _Batch) -> dict[str, np.ndarray]:
        """The exact mapper: per design and kernel class, the runtime tile divisors
        ``(tile_m_div, tile_n_div)`` from ``tile_divisors`` x ``tile_divisors`` with the least
        GEMM time of that class.

        Exact because nothing else depends on a class's runtime tile: the latency is a sum over
        kernels (times the image rounds), each GEMM depends only on its own class's tile, and
        resources, ports and quality are fixed by the hardware. So the best mapping of the whole
        encoder is the best pair of every class, found by evaluating every pair for every design
        in one batch per pair. Ties go to the first pair (the largest runtime tile).
        """
        n = b.n
        pairs = [(dm, dn) for dm in self.tile_divisors for dn in self.tile_divisors]
        gemms = [k for k in self.workload.kernels if k.kind == GEMM and k.cls in KERNEL_CLASSES]
        classes = [c for c in KERNEL_CLASSES if any(k.cls == c for k in gemms)]
        best_t = {c: np.full(n, np.inf, dtype=DT) for c in classes}
        best_i = {c: np.zeros(n, dtype=np.intp) for c in classes}
        # what does not depend on the pair: each GEMM's key and executions per image
        keyed = [(k, self._kernel_key(k), self._count(k, b)) for k in gemms]
        for i, pair in enumerate(pairs):
            views = {c: _ClassView(b, c, pair) for c in classes}
            t = {c: np.zeros(n, dtype=DT) for c in classes}
            cache: dict[tuple, np.ndarray] = {}
            for k, key, count in keyed:
                if key not in cache:
                    cache[key] = self._gemm(k, b, views[k.cls])[0]
                t[k.cls] += cache[key] * count
            for c in classes:
                better = t[c] < best_t[c]
                best_t[c] = np.where(better, t[c], best_t[c])
                best_i[c] = np.where(better, i, best_i[c])
        div = np.array(pairs, dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        for c in KERNEL_CLASSES:
            idx = best_i[c] if c in best_i else np.zeros(n, dtype=np.intp)
            out[f"tile_m_div_{c}"] = div[idx, 0]
            out[f"tile_n_div_{c}"] = div[idx, 1]
        return out

    def _quality(self, b: _Batch) -> np.ndarray:
        """The precision-quality proxy: MAC-weighted, class-sensitivity-weighted quantisation
        noise of both operands (configs/models/*.yaml ``quality``; README "Mixed precision")."""
        W = self.workload
        pen = np.array([W.quality_penalty.get(p, 0.0) for p in PRECISIONS], dtype=DT)
        total = float(sum(k.macs for k in W.gemms)) or 1.0
        q = np.zeros(b.n, dtype=DT)
        for c in KERNEL_CLASSES:
            share = sum(k.macs for k in W.gemms if k.cls == c) / total
            if not share:
                continue
            a = (
                b.cls_code[c]
                if c == "attention"
                else np.asarray(b.d["act_precision"], dtype=np.intp)
            )
            q += DT(share * W.quality_sensitivity.get(c, 1.0)) * (pen[b.cls_code[c]] + pen[a])
        return q

    def _gemm(
        self, k: Kernel, b: _Batch, v: _ClassView | None = None
    ) -> tuple[np.ndarray, tuple]:
        """Seconds per execution of one GEMM on one CU, and its busy time per bound (``v``: the
        class view to run with; by default the batch's own runtime tiles)."""
        v = b.view(k.cls) if v is None else v
        M, K = float(k.m), float(k.k)
        # compute: each tile's PE loop runs its real extent rounded up to the PE factors (runtime
        # trip counts; tiles are multiples of the PE factors, so the steps of a dimension add up
        # to ceil(dim / pe) whatever the tile), plus the pipeline fill once per tile
        skey = (k.m, k.k, k.n, k.instances > 1)
        if skey not in b._steps:
            ne = DT(k.n) if k.instances > 1 else np.ceil(k.n / b.g)  # output columns on this CU
            steps = np.ceil(DT(M) / b.pm) * np.ceil(ne / b.pn) * np.ceil(DT(K) / b.pk)
            b._steps[skey] = ne, steps
        ne, steps = b._steps[skey]
        Tm, Tk, Tn, mult_a, mult_b, spill, bytes_a, bytes_b, bytes_c = self._operands(k, b, v, ne)
        hold_a = b.loops_outside[3]  # m outside n: kernel.cpp holds A, else B
        t_comp = (steps + Tm * Tn * Tk * b.fill) / b.f
        ab, bb, cb = v.a_b, v.b_b, v.c_b
        kk, nk = np.minimum(v.tk, DT(K)), np.minimum(v.tn, ne)
        mn = M * ne
        score = k.name == self._score_kernel
        t_soft = 0.0
        a_word = 1.0  # cycles per bank word written into a_buf
        if k.attention:
            if score:
                # fused softmax after each row block: max, exp and divide passes over the row
                # on the lanes (kernel.cpp softmax_rows), not overlapped with the tiles
                t_soft = (1 - b.unfused) * 3 * M * np.ceil(ne / b.d["vector_lanes"]) / b.f
            else:
                # s_buf gives pe_n probabilities per bank and cycle (kernel.cpp load_a)
                a_word = b.unfused + (1 - b.unfused) * np.ceil(b.pk / b.pn)
        # bursts as the kernel reads and writes them: one burst per row of a tile (a tile row
        # is kk elements of A, nk of B -- kk of the transposed K -- and nk of C), the ragged
        # last tile's row a burst of its own (a matrix row in T tiles is T bursts: 64 head
        # dimensions in tiles of 60 are a 60- and a 4-byte burst, both latency-bound); the
        # rows of a group go to the stream's ports at once (the channel count is the
        # parallelism). Bursts move whole 64-byte words: a row of nb bytes takes ceil(nb / 64)
        # words, one more when it crosses one more (a CU's column slice or a tile that does not
        # start on a word; the step waits for its slowest CU)
        cu_split = DT(k.instances == 1) * (b.g > 1)
        split = 1 + cu_split * (b.g - 1)  # CUs sharing a row of B and C (a column slice each)
        # (the whole row's bursts, and the last k tile's alone: _tile_loads); operands the host
        # stores tile by tile are one sequential stream each (operand_layout "tiles")
        row_s = _streamed_row_s if self.operand_layout == "tiles" else _tiled_row_s
        def a_rows():
            return row_s(b, b.n_in, b.lat_r, DT(K) * ab, v.tk * ab, Tk, _aligned(DT(K) * ab),
                         _aligned(v.tk * ab), with_last=True)

        if v.tk is b.tk and ab is b.ab:  # every class view's (the runtime tiles are m and n)
            if K not in b._a_rows:
                b._a_rows[K] = a_rows()
            a_row_s, a_last_s = b._a_rows[K]
        else:
            a_row_s, a_last_s = a_rows()

        def n_rows(which, nch, lat, eb):
            """One n-tiled row of B, C or the residual (``eb`` bytes an element; the slowest
            CU's column slice), kept per mapper n tile (_n_row)."""
            return self._n_row(b, v, k, which, lambda: row_s(
                b, nch, lat, ne * eb, v.tn * eb, Tn, _aligned(DT(k.n) * eb), _aligned(v.tn * eb),
                ne * eb, split, row_b=DT(k.n) * eb))

        t_a = bytes_a / (DT(K) * ab) * a_row_s
        b_ch = b.n_w if k.weight_operand else b.n_in  # B from the input stream: its own loader
        if score:  # K^T: rows of the head dimension at tile k offsets
            b_row_s, b_last_s = row_s(b, b_ch, b.lat_r, DT(K) * bb, v.tk * bb, Tk,
                                      _aligned(DT(K) * bb), _aligned(v.tk * bb),
                                      with_last=True)
            b_rows = bytes_b / (DT(K) * bb)
        else:  # the CUs' column slices of a row (the slowest CU's words)
            b_row_s = n_rows("b", b_ch, b.lat_r, bb)
            b_last_s = None
            b_rows = bytes_b / (ne * bb)
        # bank words: every tile writes its A tile (mk/pe_m x kk/pe_k words) and B tile
        # (kk/pe_k x nk/pe_n) into the banks one word per bank and cycle, after each group's
        # bursts (loaded or copied from the hold copy / k_buf, v_buf alike); the store takes
        # each C block (mk/pe_m x nk/pe_n) from the stream one per cycle
        steps_m, steps_k = np.ceil(DT(M) / b.pm), np.ceil(DT(K) / b.pk)
        steps_n = np.ceil(ne / b.pn)
        a_mem, a_cp = t_a, a_word * Tn * steps_m * steps_k / b.f
        b_cp = Tm * steps_k * steps_n / b.f
        b_mem = b_rows * b_row_s
        # kernel.cpp writes a group's bank words after its bursts (load_a, load_b: one after
        # the other); a published build (template False) streams its reads through concurrent
        # stages into its buffers, the writes overlapping the reads (Vitis BLAS: gemmKernel.hpp
        # GemmBlockStream's Transpose and MatrixBuffer dataflow stages)
        seq = np.add if self.template else np.maximum
        t_a, t_b = seq(a_mem, a_cp), seq(b_mem, b_cp)
        c_rows = bytes_c / (ne * cb)
        t_out = c_rows * n_rows("c", b.n_out, b.lat_w, cb)
        # partial sums of C tiles that continue in a later k tile (spill: Tk - 1 per C tile),
        # written by the store and read back by load_p, a row of nk accumulators per burst,
        # on one port (the first output bundle), plus one cycle per C block into p_s
        if np.any(spill):
            ps_words = _words(nk * b.accb, 1.0)  # ps rows start on words (kernel.cpp load_p)
            ps_bursts = spill * M * Tn
            t_ps_w = ps_bursts * ps_words / b.bw(DT(1e9), ps_words, b.lat_w)
            t_ps_r = ps_bursts * ps_words / b.bw(DT(1e9), ps_words, b.lat_r)
            t_ps_r = t_ps_r + spill * steps_m * steps_n / b.f
        else:
            t_ps_w = t_ps_r = 0.0
        # the loaders run side by side, a tile's load takes the slower of them. The operand the
        # loop order holds (A when n runs inside m, else B) comes from memory in one of every r
        # tiles and from the hold copy in the others: r = Tn / mult_a (resp. Tm / mult_b), Tn
        # (Tm) where its tile repeats over the n (m) tiles that run innermost, 1 where it
        # changes every tile (k inside the loop it does not index: nmk reads B in each of its
        # k tiles, the hold copy never used); fused attention holds K^T / V for the head's Tm
        # row-block calls. The loaders overlap only in the tiles where both read memory.
        r_a = np.where(hold_a, Tn / mult_a, 1.0)
        r_b = np.where(hold_a, 1.0, Tm / mult_b)
        if k.attention:
            r_b = np.where(b.unfused > 0, r_b, Tm)
        if b.any_share_streams:  # loaders sharing channels take turns on them
            shared = b.ss_all if k.weight_operand else 1.0
        else:
            shared = 0.0
        # held operand H (memory part in the first 1/r of the tiles, its bank words in all),
        # other operand O spread evenly: max(H_mem + H_words/r, O/r) + max(H_words (1 - 1/r),
        # O (1 - 1/r)); loaders sharing channels take turns in the tiles where both read memory
        held = np.where(r_a == r_b, hold_a, r_a > r_b)  # a tie: the kernel's hold copy
        r = np.maximum(r_a, r_b)
        h_mem, h_cp = np.where(held, a_mem, b_mem), np.where(held, a_cp, b_cp)
        t_o = np.where(held, t_b, t_a)
        first = np.maximum(seq(h_mem, h_cp / r), t_o / r) + shared * np.minimum(h_mem, t_o / r)
        load = first + np.maximum(h_cp, t_o) * (1 - 1 / r)
        if np.any(spill):
            # load_p runs beside the loaders in the tiles that continue a C tile (k > 0): a
            # share q = spill / Tk of the tiles, of the held operand's memory tiles as of the
            # others (the held operand changes with the first tile of the loop inside it, which
            # is never k when C spills); a tile's load is its slowest loader, so load_p adds
            # where it is the slowest in its tiles, not only where its total exceeds the others'
            q = spill / Tk
            p_all = t_ps_r / np.where(q > 0, q, 1.0)  # load_p's time were it in every tile
            with_p = np.maximum(first, p_all / r) + np.maximum(
                np.maximum(h_cp, t_o), p_all) * (1 - 1 / r)
            load = np.where(q > 0, (1 - q) * load + q * with_p, load)
        # the loaders' shares differ between kinds of tile: A moves a burst per row whatever
        # its width, B a row per k and the same rows in every m tile, so a ragged last k tile
        # (A's latency-bound short rows) or m tile (B's whole tile beside a few rows of A)
        # has another slower loader than the full tiles. The load is at least the sum over the
        # kinds of tile (m and k each full or last) of the slower loader's share; per tile
        # of each kind (the average) it is what the drain overlaps (_drain)
        calls = 1.0 if not k.attention else 1 + (1 - b.unfused) * (Tm - 1)
        loads = self._tile_loads(k, b, v, Tm, Tn, Tk, calls, load, t_a, t_b,
                                 a_cp, b_cp, b_mem, bytes_a, b_rows, a_last_s, b_last_s, hold_a,
                                 r_b, steps_k, seq)
        load = loads[0]
        t_w = t_b if k.weight_operand else 0.0
        t_in = np.maximum(t_a if k.weight_operand else np.maximum(t_a, t_b), t_ps_r)
        # the epilogue: one element per lane and cycle whatever its operations (the GELU,
        # bias, residual and quantise of an element share one pipelined lane step)
        t_epi = mn / b.lanes_f
        t_vec = t_epi + t_soft
        if k.name in self._residual:  # its rows, as the output's, on the input ports
            ra = b.act_b
            r_row_s = n_rows("residual", b.n_in, b.lat_r, ra)
            t_epi = np.maximum(t_epi, M * r_row_s)
        if b.any_share_streams:
            t_store = np.maximum(t_epi, t_out + b.ss_act * np.minimum(t_in, t_out))
        else:
            t_store = np.maximum(t_epi, t_out)
        t_store = t_store + t_ps_w + (1 + spill) * steps_m * steps_n / b.f
        serial = load + t_comp + t_store
        # double-buffered: a three-stage pipeline (load, compute, store) over the tiles; the
        # busiest stage runs back to back, the others add the first tile before it and the
        # call's drain after it (a C tile's store only after its last k tile). Fused attention
        # runs one call per row block of tm rows, each its own pipeline.
        tiles, c_tiles = Tm * Tn * Tk, Tm * Tn * (1 + spill)
        # the first tile's load: the held operand's memory part arrives in the first tile of
        # each of the tiles / r sweeps
        # (its share of the matrix: a full tile's, also where the last tile is ragged)
        mk = np.minimum(v.tm, DT(M))
        share = np.where(held, mk / M / mult_a, nk / ne / mult_b) * (kk / K)  # one tile's read
        l1 = np.maximum(seq(h_mem * share, h_cp / tiles), t_o / tiles)
        c1, s1 = t_comp / tiles, t_store / c_tiles
        # the first store waits for the first C tile's compute: its tiles / c_tiles k tiles
        # (Tk when k runs innermost), each a full tile (the first tile of every dimension is
        # whole: a ragged last tile must not shorten it)
        c_full = (np.ceil(mk / b.pm) * np.ceil(nk / b.pn) * np.ceil(kk / b.pk) + b.fill) / b.f
        c_first = c_full * tiles / c_tiles
        # ... but when a C tile runs all its k tiles (no spill) and the last k tile is ragged,
        # those are the whole K: Tk - 1 full tiles and the short one (k = 128 in tiles of 96:
        # 24 + 8 k steps, not 2 x 24)
        ragged_k = (spill == 0) & (Tk * kk > K)
        if np.any(ragged_k):
            c_all_k = (np.ceil(mk / b.pm) * np.ceil(nk / b.pn) * steps_k + Tk * b.fill) / b.f
            c_first = np.where(ragged_k, c_all_k, c_first)
        tc, ts = t_comp / calls, t_store / calls  # one call's compute and store
        # the pipeline drains with the call's last tile (the last of every loop: ragged where
        # its dimension is, 16 rows of M = 256 in tiles of 120), or with the tile (C tile)
        # before it still storing (_drain); before MODEL_VERSION 2.3.0 the drain was an average
        # tile's PE loop and store, 3 x 120-row tiles' worth where the last has 16 rows
        after_c, drain = self._drain(k, b, v, ne, Tm, Tn, Tk, calls, loads[1:], t_store,
                                     t_ps_w, spill, steps_m * steps_n)
        overlapped = calls * np.maximum(
            np.maximum(load / calls + drain, l1 + tc + after_c), l1 + c_first + ts
        )
        if np.any(spill):
            # with k outside m or n, a call ends with the last k tile of each of its C tiles:
            # the tiles of the loops inside k (r_in), each a last (maybe ragged) k tile of PE
            # loop and a final store; where that store is longer, the stores are the call's tail
            k_last = K - (Tk - 1) * kk
            c_lt = (np.ceil(mk / b.pm) * np.ceil(nk / b.pn) * np.ceil(k_last / b.pk)
                    + b.fill) / b.f
            s_fin = (t_store - t_ps_w - spill * steps_m * steps_n / b.f) / (Tm * Tn)
            r_in = (np.where(b.loops_outside[4], Tm / calls, 1.0)
                    * np.where(b.loops_outside[5], Tn, 1.0))
            tail = calls * (l1 + tc + s_fin + (r_in - 1) * np.maximum(s_fin - c_lt, 0.0))
            overlapped = np.where(spill > 0, np.maximum(overlapped, tail), overlapped)
        if k.attention and np.any(b.unfused == 0):
            # fused, B held (K^T / V, r = Tm = calls): only the head's first row-block call
            # reads it from memory (its load is `first`, its first tile l1); the others load
            # from k_buf / v_buf (the rest of `load`, shared evenly), their first tile without
            # the held operand's memory part; partial sums read back (t_ps_r) evenly per call
            rest = np.maximum(calls - 1, 1)
            ld_first = np.maximum(first, t_ps_r / calls)
            ld_rest = np.maximum(np.maximum(h_cp, t_o) * (1 - 1 / r) / rest, t_ps_r / calls)
            l1_rest = np.maximum(h_cp / tiles, t_o / tiles)
            p_first = np.maximum(np.maximum(ld_first + c1 + s1, l1 + tc + s1), l1 + c_first + ts)
            p_rest = np.maximum(np.maximum(ld_rest + c1 + s1, l1_rest + tc + s1),
                                l1_rest + c_first + ts)
            per_call = p_first + (calls - 1) * p_rest
            overlapped = np.where((b.unfused == 0) & ~held & (calls > 1), per_call, overlapped)
        # the part of the epilogue that does not overlap the tiles (logic.epilogue_overlap; 1:
        # it all runs in the store stage beside the PE array)
        overlapped = overlapped + b.no_overlap * t_epi
        time = serial + b.dbuf_f * (overlapped - serial) + t_soft
        return time, (t_comp, t_w, t_in, t_out, t_vec)

    @staticmethod
    def _n_row(b: _Batch, v: _ClassView, k: Kernel, which: str, compute) -> np.ndarray:
        """``compute()``: the seconds of one n-tiled row of operand ``which`` of GEMM ``k``
        (B, C or the residual), kept per mapper n tile (``v.n_key``): they depend on the
        kernel's n, its CU split, its operands' streams and the n tile only, so the mapper's
        runtime m tiles share them."""
        if v.n_key is None:
            return compute()
        key = (which, v.n_key, k.n, k.instances > 1, k.weight_operand)
        if key not in b._n_rows:
            b._n_rows[key] = compute()
        return b._n_rows[key]

    @staticmethod
    def _tile_loads(k, b, v, Tm, Tn, Tk, calls, load, t_a, t_b, a_cp, b_cp, b_mem, bytes_a,
                    b_rows, a_last_s, b_last_s, hold_a, r_b, steps_k, seq=np.add):
        """The call's load (s), at least the sum over the kinds of tile of the slower loader's
        share, and one tile's load of each kind (s, averages): ``(load, L_ff, L_fl, L_lf,
        L_ll)``, the first letter for m (full or last tile), the second for k.

        A's share of a kind: its rows (the last m tile's ``M - (Tm-1) tm`` of ``M``) times its
        row bursts (the last k tile's burst, or the others'); B's: its k rows (the last k
        tile's of ``K``; K^T: its bursts) and its m tiles (``1/Tm`` each, where B is read in
        every tile; where B is held over the m tiles only its bank words). Fused attention's
        row-block calls (one m tile each) are not split by m."""
        M, K = DT(k.m), DT(k.k)
        ab = v.a_b
        m_l = M - (Tm - 1) * v.tm
        k_l = K - (Tk - 1) * v.tk
        split_m = (Tm / calls > 1) & (m_l < v.tm)
        split_k = (Tk > 1) & (k_l < v.tk)
        if not (np.any(split_m) or np.any(split_k)):
            per = load / (Tm * Tn * Tk)
            return load, per, per, per, per
        # the last k tile's shares of A and B (a_last_s: A's row burst in the last k tile;
        # b_last_s: K^T's, None where B's rows are k rows)
        a_last = seq(bytes_a / (K * ab) * a_last_s, a_cp * np.ceil(k_l / b.pk) / steps_k)
        b_last = b_mem * k_l / K if b_last_s is None else b_rows * b_last_s
        b_last = seq(b_last, b_cp * np.ceil(k_l / b.pk) / steps_k)
        ka_l = np.where(split_k, a_last / np.maximum(t_a, 1e-30), 1.0 / Tk)
        kb_l = np.where(split_k, b_last / np.maximum(t_b, 1e-30), 1.0 / Tk)
        # the last m tile's shares (B from memory in every m tile unless held over them)
        b_every = hold_a | (r_b <= 1)
        ma_l = np.where(split_m, m_l / M, 1.0 / Tm)
        mb_l = np.where(split_m, seq(b_cp, np.where(b_every, b_mem, 0.0)) / (Tm * t_b), 1.0 / Tm)
        mb_l = np.minimum(mb_l, 1.0)
        kinds = []
        for ma, mb, cm in ((1 - ma_l, 1 - mb_l, Tm - 1), (ma_l, mb_l, 1.0)):
            for ka, kb, ck in ((1 - ka_l, 1 - kb_l, Tk - 1), (ka_l, kb_l, 1.0)):
                kinds.append((np.maximum(t_a * ma * ka, t_b * mb * kb), cm * ck * Tn))
        total = sum(x for x, _ in kinds)
        split = split_m | split_k  # (elsewhere the kinds are in proportion: the load as it is)
        load_new = np.where(split, np.maximum(load, total), load)
        scale = load_new / np.maximum(total, 1e-30)  # what the loaders' rule adds, evenly
        even = load / (Tm * Tn * Tk)
        per = [np.where(split, x * scale / np.maximum(n, 1.0), even) for x, n in kinds]
        return (load_new, *per)

    @staticmethod
    def _drain(k, b, v, ne, Tm, Tn, Tk, calls, per_tile, t_store, t_ps_w, spill, blocks):
        """Seconds a double-buffered call's pipeline runs after its loads and after its PE
        loop: ``(after_c, tail)``.

        As kernel.cpp's tile loop runs them (finish times ``F_load += L``,
        ``F_comp = max(F_load, F_comp) + C``, ``F_store = max(F_comp, F_store) + S``), the call
        ends along one of two paths: the last tile's PE loop and store after the last load, or
        the previous unit's PE loops and store, then the last store, where a unit is a tile,
        or a C tile (its ``Tk`` tiles) when k is the innermost loop that iterates; that path
        starts before the loads of the previous unit's later tiles and of the last unit
        (``tail`` takes those loads off). ``after_c`` is the last store, or the previous
        unit's store less the last unit's PE loops, then the last store.

        The last tile is the last of every loop, its extents the ragged last tiles'
        (``M - (Tm-1) tm`` rows ...); the previous unit is full along the innermost loop that
        iterates (the innermost of m and n when the unit is a C tile) and the last along the
        others. A C tile's final store is its rows' share of the call's final stores (the n
        tiles alike); fused attention's row-block calls each end with a whole row block.

        Args:
            ne: output columns on this CU; Tm, Tn, Tk: tiles along m, n and k; calls: pipelines
                per execution (fused attention: one per row block); per_tile: one tile's
                load (s, averages) by kind, m then k full or last (:meth:`_tile_loads`); t_store,
                t_ps_w: the store stage's total and its partial-sum writes (s); spill:
                partial-sum spills per C tile; blocks: C blocks per execution
                (``ceil(M/pe_m) ceil(ne/pe_n)``).
        """
        M, K = DT(k.m), DT(k.k)
        mk, nk, kk = np.minimum(v.tm, M), np.minimum(v.tn, ne), np.minimum(v.tk, K)
        m_l = np.where(calls > 1, mk, M - (Tm - 1) * v.tm)  # the last tile's rows
        n_l, k_l = ne - (Tn - 1) * v.tn, K - (Tk - 1) * v.tk
        k_steps = np.maximum(Tk - 1, 0) * np.ceil(kk / b.pk) + np.ceil(k_l / b.pk)

        def pe_s(m, n, ks, tiles=1.0):  # PE loops of `tiles` tiles of ks k steps in all (s)
            return (np.ceil(m / b.pm) * np.ceil(n / b.pn) * ks + tiles * b.fill) / b.f

        # the final stores (partial-sum writes and their c_s blocks taken out), per row and n tile
        s_row = (t_store - t_ps_w - spill * blocks / b.f) / (M * Tn)
        s_last = s_row * m_l
        c_last = pe_s(m_l, n_l, np.ceil(k_l / b.pk))
        last = c_last + s_last
        # the innermost loops that iterate (within a call)
        pm_, pn_, pk_ = b.pos
        dm = np.where(Tm / calls > 1, pm_, -1)
        dn = np.where(Tn > 1, pn_, -1)
        dk = np.where(Tk > 1, pk_, -1)
        in_m, in_n = (dm > dn) & (dm > dk), (dn > dm) & (dn > dk)
        by_c = (dk > dm) & (dk > dn)  # k innermost: the units are C tiles
        in2_m, in2_n = by_c & (dm > dn), by_c & (dn > dm)  # ... and the next loop out
        m_p = np.where(in_m | in2_m, mk, m_l)
        n_p = np.where(in_n | in2_n, nk, n_l)
        s_p = s_row * m_p
        c_p = np.where(by_c, pe_s(m_p, n_p, k_steps, Tk), pe_s(m_p, n_p, np.ceil(k_l / b.pk)))
        c_u = np.where(by_c, pe_s(m_l, n_l, k_steps, Tk), c_last)  # the last unit's PE loops
        # loads skipped: the last unit's, and (the path through all the previous unit's PE
        # loops) its loads after its first tile; or (through its last PE loop) none of its own
        l_ff, l_fl, l_lf, l_ll = per_tile
        last_u = np.where(by_c, (Tk - 1) * l_lf + l_ll, l_ll)
        pf, pl = np.where(in2_m, l_ff, l_lf), np.where(in2_m, l_fl, l_ll)  # the previous C tile's
        before = c_p + s_p + s_last - last_u - np.where(by_c, np.maximum(Tk - 2, 0) * pf + pl, 0)
        c_pl = pe_s(m_p, n_p, np.ceil(k_l / b.pk))  # its last k tile's PE loop
        before = np.where(by_c, np.maximum(before, c_pl + s_p + s_last - last_u), before)
        several = in_m | in_n | in2_m | in2_n  # a previous unit in the call
        tail = np.where(several, np.maximum(last, before), last)
        after_c = np.where(several, s_last + np.maximum(s_p - c_u, 0.0), s_last)
        return after_c, tail

    def _vector(self, k: Kernel, b: _Batch) -> tuple[np.ndarray, tuple]:
        """Seconds per execution of a stand-alone vector kernel on one CU, and busy times.

        As vector.cpp runs it: one row at a time, its read bursts (on one input port), its lane
        passes (``VECTOR_LANE_PASSES``, ``ceil(n / lanes)`` cycles each) and its write bursts
        (one output port) in turn, double-buffered or not.
        """
        share = 1.0 if k.instances > 1 else 1.0 / b.g  # heads split by count, rows otherwise
        rows = DT(k.m) * share
        steps = np.ceil(DT(k.n) / b.d["vector_lanes"])
        t_vec = rows * VECTOR_LANE_PASSES.get(k.op, 3) * steps / b.f
        row_b = DT(k.n) * b.act_b  # one row: one burst on one port (1e9: one channel)
        t_in = DT(k.read_elems) * share * b.act_b / b.bw(DT(1e9), row_b, b.lat_r)
        t_out = DT(k.write_elems) * share * b.act_b / b.bw(DT(1e9), row_b, b.lat_w)
        if k.op == "layernorm":  # gamma and beta (float32) once per call
            t_in = t_in + 2 * k.n * 4 / b.bw(DT(1e9), DT(k.n * 4), b.lat_r)
        if k.attention:  # softmax: part of the score GEMM's epilogue when attention is fused
            t_vec, t_in, t_out = (x * b.unfused for x in (t_vec, t_in, t_out))
        return t_vec + t_in + t_out, (0.0, 0.0, t_in, t_out, t_vec)

    def _traffic(self, b: _Batch) -> np.ndarray:
        """Bytes moved to and from off-chip memory per image, summed over the CUs that share
        it: the operand, output and partial-sum bytes each GEMM execution moves (the re-fetch
        and hold-copy rules of :meth:`_gemm`, the runtime tiles the mapper chose), the residual
        rows an epilogue reads, and the rows stand-alone vector kernels read and write. Bytes
        as the operands hold them, not padded to 64-byte words (partial sums are: their rows
        start on words)."""
        total = np.zeros(b.n, dtype=np.float64)
        for k in self.workload.kernels:
            if k.kind != GEMM and k.epilogue_of:
                continue  # rides on its GEMM's output tiles
            if k.kind == GEMM:
                per = self._gemm_bytes(k, b)
                # heads split over the CUs: the head executions add up to k.count; a column
                # split: each of the g CUs runs every execution on its slice (and reads all of A)
                total += per * k.count * (b.g if k.instances == 1 else 1.0)
            else:
                rw = DT(k.read_elems + k.write_elems) * b.act_b
                if k.attention:
                    rw = rw * b.unfused
                total += rw * k.count
                if k.op == "layernorm":  # gamma and beta (float32) on every CU of the image
                    total += 2.0 * k.n * 4 * k.count * b.g
        return total

    def _operands(self, k: Kernel, b: _Batch, v: _ClassView, ne) -> tuple:
        """Tile counts, re-fetch factors and operand bytes of one execution of a GEMM on one
        CU with ``ne`` output columns, as kernel.cpp moves them: ``(Tm, Tk, Tn, mult_a, mult_b,
        spill, bytes_a, bytes_b, bytes_c)``; the time (:meth:`_gemm`) and the traffic
        (:meth:`_gemm_bytes`) both read them."""
        M, K = float(k.m), float(k.k)
        Tm, Tk = np.ceil(M / v.tm), np.ceil(K / v.tk)
        Tn = np.ceil(ne / v.tn)
        mult_a, mult_b, spill = refetch(b.loops_outside, Tm, Tn, Tk)
        # kernel.cpp keeps a hold copy of one operand only (A when n runs inside m, else B): the
        # other is read from memory in every tile, Tn times for A and Tm times for B, even where
        # its tile does not change from one tile to the next (the refetch rule's trip count 1)
        hold_a = b.loops_outside[3]  # m outside n
        mult_a = np.where(hold_a, mult_a, Tn)
        mult_b = np.where(hold_a, Tm, mult_b)
        bytes_a = DT(M * K) * v.a_b * mult_a
        bytes_c = M * ne * v.c_b
        if k.attention:
            mult_b = 1 + b.unfused * (mult_b - 1)  # K / V of a head stay on chip when fused
            # fused: one call per row block (one m tile), so no C tile spills across m tiles
            spill = b.unfused * spill + (1 - b.unfused) * refetch(b.loops_outside, 1, Tn, Tk)[2]
            if k.name == self._score_kernel:
                bytes_c = bytes_c * b.unfused  # scores never leave the chip
            else:
                bytes_a = bytes_a * b.unfused  # probabilities never leave the chip
        bytes_b = DT(K) * ne * v.b_b * mult_b
        return Tm, Tk, Tn, mult_a, mult_b, spill, bytes_a, bytes_b, bytes_c

    def _gemm_bytes(self, k: Kernel, b: _Batch) -> np.ndarray:
        """Bytes one execution of a GEMM moves on one CU (:meth:`_operands`, plus the partial
        sums and the residual rows)."""
        v = b.view(k.cls)
        M = float(k.m)
        ne = DT(k.n) if k.instances > 1 else np.ceil(k.n / b.g)
        _, _, Tn, _, _, spill, bytes_a, bytes_b, bytes_c = self._operands(k, b, v, ne)
        out = (bytes_a + bytes_b + bytes_c).astype(np.float64)
        if np.any(spill):  # partial sums written and read back, rows of nk accumulators
            nk = np.minimum(v.tn, ne)
            out = out + 2.0 * spill * M * Tn * _words(nk * b.accb, 1.0)
        if k.name in self._residual:  # the residual's rows, read by the epilogue
            out = out + M * ne * b.act_b
        return out

    def _resources(self, b: _Batch) -> np.ndarray:
        """Resources of one CU, (n, 4) in RESOURCES order: exactly what the hardware
        description of the CU (dse.hardware) instantiates."""
        return build(self.platform, self._shapes, b.d._src, codes=(b.wc, b.ac),
                     template=self.template).per_cu()

    def _slr_tables(self, max_cu: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For 0..max_cu CUs: CUs per SLR (c, n_slr), the per-CU budget of each resource (c, 4)
        (the tightest SLR's budget divided by its CU count) and that SLR (c, 4)."""
        P = self.platform
        order = np.array(P.cu_slr_order)
        c = np.arange(max_cu + 1)
        cus = np.zeros((len(c), len(P.slr_names)))
        for j, s in enumerate(order):  # CU i sits on SLR order[i % len(order)]
            cus[:, s] += c // len(order) + (j < c % len(order))
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(cus[:, :, None] > 0, P.slr_available[None] / cus[:, :, None], np.inf)
        return cus, per.min(axis=1), per.argmin(axis=1)

    def _fmax(self, b: _Batch, per_cu: np.ndarray) -> np.ndarray:
        """The achievable clock of each design in MHz (dse.timing), from its resources and its
        busiest SLR boundary; keeps the per-SLR fractions for :meth:`_feasibility` (``b.util``)."""
        P, cu = self.platform, b.cu
        # identical CUs: on every SLR a resource's use is (CUs there) x (per CU), so its fullest
        # SLR is the one with the smallest budget per CU (lookup by CU count)
        ci = cu.astype(np.intp)
        cus, budget, tight = self._slr_tables(int(ci.max()) if len(ci) else 0)
        bud = [budget[:, r].take(ci) for r in range(len(RESOURCES))]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = [per_cu[:, r] / bud[r] for r in range(len(RESOURCES))]
        if not budget.all():  # a resource with nothing available: 0 when unused, else inf
            frac = [np.where(per_cu[:, r] > 0, f, 0.0) for r, f in enumerate(frac)]
        b.util = ci, cus, budget, tight, bud, frac
        slls = b.slls
        b.busiest = slls.max(axis=0) if len(slls) else np.zeros(len(cu))
        u_raw = raw_fractions(P, per_cu, frac, ci, cus, tight)
        b.fmax = fmax_mhz(P, u_raw, b.d["double_pump"] > 0, b.busiest / P.timing.sll_limit)
        return b.fmax

    def _clock(self, b: _Batch, fmax: np.ndarray) -> np.ndarray:
        """Each design's kernel clock in MHz: the policy's choice (dse.timing.choose_clock), or,
        without a policy, the design's own ``clock_mhz`` (per design where it has none)."""
        pump = np.asarray(b.d._src["double_pump"]) > 0
        if self.clock is not None:
            return choose_clock(self.clock, self.platform, fmax, pump)
        given = np.asarray(b.d._src["clock_mhz"], dtype=np.float64)
        unset = given <= 0
        if not unset.any():
            return given
        chosen = choose_clock(ClockPolicy(step_mhz=DEFAULT_STEP_MHZ), self.platform, fmax, pump)
        return np.where(unset, chosen, given)

    def _feasibility(
        self, b: _Batch, per_cu: np.ndarray, cols: dict[str, np.ndarray], detail: bool
    ) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
        """Fill resource, utilisation and feasibility columns; return per-SLR use when asked,
        and every violation (code -> used figure, NaN where that limit holds).

        Utilisation is per SLR, as placement decides: a resource's fraction is its use on the SLR
        where it is fullest, used / available after the shell and the margin (``util_lut``,
        ``util_dsp``, ``util_bram``, ``util_uram``); ``utilization`` is the largest of them, so a
        design fits its SLRs exactly when ``utilization <= 1``; ``binding`` says which resource
        on which SLR that is (code ``slr * 4 + resource``, RESOURCES order).
        """
        P, d, cu = self.platform, b.d, b.cu
        total = per_cu * cu[:, None]
        ci, cus, budget, tight, bud, frac = b.util  # per-SLR fractions (Model._fmax)
        # the binding resource: the first reaching the largest fraction (columnwise, cheap)
        best, arg = frac[0], np.zeros(len(ci), dtype=np.intp)
        for r in range(1, len(RESOURCES)):
            arg[frac[r] > best] = r
            best = np.maximum(best, frac[r])
        for r, name in enumerate(RESOURCES):
            cols[name] = total[:, r]
            cols["util_bram" if name == "bram18" else f"util_{name}"] = frac[r]
        cols["utilization"] = best
        codes = tight * len(RESOURCES) + np.arange(len(RESOURCES))
        cols["binding"] = codes[ci, arg].astype(np.int8)
        code = np.zeros(len(cu), dtype=np.int16)
        used = np.zeros(len(cu))
        limit = np.zeros(len(cu))
        viol: dict[int, np.ndarray] = {}  # every violation: code -> used figure (NaN: holds)

        def flag(mask, c, u, lim):
            if not mask.any():
                return
            u = np.broadcast_to(u, mask.shape)
            viol[c] = np.where(mask, u, np.nan)
            new = mask & (code == 0)
            code[new] = c
            used[new] = u[new]
            limit[new] = lim[new] if isinstance(lim, np.ndarray) else lim

        clk = b.clock_mhz
        cols["clock_mhz"] = clk
        flag(clk > P.max_kernel_mhz, VIOLATION_CLOCK, clk, P.max_kernel_mhz)
        flag(
            (d["double_pump"] > 0) & (2 * clk > P.dsp_max_mhz),
            VIOLATION_PUMP,
            2 * clk,
            P.dsp_max_mhz,
        )
        mem = P.memory
        w, i, o = d["pc_weights"], d["pc_inputs"], d["pc_outputs"]
        pcs = channels_used(w, i, o, cu, b.share, b.share_streams)
        flag(pcs > mem.usable_channels, VIOLATION_PCS, pcs, mem.usable_channels)
        ports = cu * ports_per_cu(w, i, o, b.share, b.share_streams)
        flag(ports > mem.max_ports, VIOLATION_PORTS, ports, mem.max_ports)
        mib = channel_mib(
            self, fuse=b.fuse, cus_per_image=b.g, weight_code=b.wc, act_code=b.ac,
            share_weights=b.share, share_streams=b.share_streams,
        )  # fmt: skip
        flag(mib > mem.channel_mib, VIOLATION_CAPACITY, mib, mem.channel_mib)
        # per-SLR budgets: the tightest SLR decides; each resource over is listed on its tightest
        # SLR (the one that fills first; identical CUs)
        over = np.stack([per_cu[:, r] > bud[r] for r in range(len(RESOURCES))], axis=1)
        anyover = over.any(axis=1)
        if anyover.any():
            rows = np.flatnonzero(anyover & (code == 0))
            r = over[rows].argmax(axis=1)
            s = tight[ci[rows], r]
            code[rows] = 10 + s * len(RESOURCES) + r
            used[rows] = cus[ci[rows], s] * per_cu[rows, r]
            limit[rows] = P.slr_available[s, r]
            for r_ in np.flatnonzero(over.any(axis=0)):  # every resource over, on its tightest SLR
                rows = np.flatnonzero(over[:, r_])
                s_ = tight[ci[rows], r_]
                u = cus[ci[rows], s_] * per_cu[rows, r_]
                for slr in np.unique(s_):
                    on = s_ == slr
                    full = np.full(len(cu), np.nan)
                    full[rows[on]] = u[on]
                    viol[10 + int(slr) * len(RESOURCES) + int(r_)] = full
        # SLR crossings: each boundary's SLLs within its usable share
        t = P.timing
        cols["slls"] = b.busiest
        for j, on in enumerate(b.slls):
            flag(on > t.sll_limit, VIOLATION_SLL + j, on, t.sll_limit)
        # timing closure (dse.timing): the consequence of everything above, so flagged last;
        # fmax came first (Model._fmax) because the clock is chosen from it
        fmax = b.fmax
        cols["fmax_mhz"] = fmax
        cols["fmax_margin_mhz"] = fmax - clk
        flag(clk > fmax, VIOLATION_TIMING, clk, fmax)
        cols["feasible"] = code == 0
        cols["violation_code"] = code
        cols["violation_used"] = used
        cols["violation_limit"] = limit
        return (cus[ci][:, :, None] * per_cu[:, None, :] if detail else None), viol


def violation_names(platform: Platform) -> dict[int, str]:
    """What each violation code limits, e.g. ``bram18 SLR0``, ``hbm channels``, ``ddr AXI
    ports`` (the design memory's kind names its channels and ports)."""
    kind = platform.memory.kind
    names = {
        VIOLATION_CLOCK: "clock_mhz",
        VIOLATION_PUMP: "double-pumped DSP clock MHz",
        VIOLATION_PCS: f"{kind} channels",
        VIOLATION_PORTS: f"{kind} AXI ports",
        VIOLATION_TIMING: "clock_mhz for timing closure",
        VIOLATION_CAPACITY: f"{kind} MiB per channel",
    }
    for s, slr in enumerate(platform.slr_names):
        for r, res in enumerate(RESOURCES):
            names[10 + s * 4 + r] = f"{res} {slr}"
    for j in range(len(platform.slr_names) - 1):
        names[VIOLATION_SLL + j] = f"SLLs {platform.slr_names[j]}-{platform.slr_names[j + 1]}"
    return names


def violation_limits(platform: Platform) -> dict[int, float]:
    """The limit of each violation code on this platform (``available`` in the text)."""
    mem = platform.memory
    limits = {
        VIOLATION_CLOCK: platform.max_kernel_mhz,
        VIOLATION_PUMP: platform.dsp_max_mhz,
        VIOLATION_PCS: float(mem.usable_channels),
        VIOLATION_PORTS: float(mem.max_ports),
        VIOLATION_TIMING: platform.timing.base_mhz,  # per design: Result.limits
        VIOLATION_CAPACITY: float(mem.channel_mib),
    }
    for s in range(len(platform.slr_names)):
        for r in range(len(RESOURCES)):
            limits[10 + s * 4 + r] = float(platform.slr_available[s, r])
    for j in range(len(platform.slr_names) - 1):
        limits[VIOLATION_SLL + j] = platform.timing.sll_limit
    return limits


def _phrase(name: str, used: np.ndarray, limit) -> np.ndarray:
    """``<name> <used> > <limit> available`` for arrays of used figures and limits."""
    u = np.ceil(used).astype(np.int64).astype(str)
    lim = np.floor(np.broadcast_to(limit, used.shape)).astype(np.int64).astype(str)
    head = np.char.add(np.char.add(name + " ", u), " > ")
    return np.char.add(head, np.char.add(lim, " available"))


def _limiting(comps: tuple, n: int) -> np.ndarray:
    """Index of the largest busy time per design (first on ties): the bound that limits a
    kernel. ``comps`` holds one array, or 0.0 for a bound that plays no part, per bound.
    (int8 arithmetic instead of np.where/argmax: several times faster on these sizes.)"""
    best = None
    limit = np.zeros(n, dtype=np.int8)
    for j, c in enumerate(comps):
        if isinstance(c, float):
            continue  # 0.0 never beats a busy time (all are >= 0)
        if best is None:
            best = c
            limit += np.int8(j)
            continue
        more = (c > best).view(np.int8)
        limit += more * (np.int8(j) - limit)
        best = np.maximum(best, c)
    return limit


def violation_text(
    platform: Platform, code: np.ndarray, used: np.ndarray, limit: np.ndarray
) -> np.ndarray:
    """Readable violations, e.g. ``bram18 SLR0 1520 > 818 available`` ('' when feasible)."""
    names = violation_names(platform)
    out = np.full(len(code), "", dtype=object)
    for c in np.unique(code):
        if c == 0:
            continue
        m = code == c
        out[m] = _phrase(names[int(c)], used[m], limit[m])
    return out


def violations_text(
    platform: Platform,
    code: np.ndarray,
    used: np.ndarray,
    limit: np.ndarray,
    violations: dict[int, np.ndarray],
    design_limits: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Every violation of each design, ``;``-joined, the binding one (``code``) first and the
    others in code order ('' when feasible). Built per violation code, not per design.
    ``design_limits``: per-design limits where a code's limit is not the platform's
    (``Result.limits``)."""
    out = violation_text(platform, code, used, limit)
    names, limits = violation_names(platform), violation_limits(platform)
    design_limits = design_limits or {}
    for c in sorted(violations):
        m = ~np.isnan(violations[c]) & (code != c)
        if m.any():
            lim = design_limits[c][m] if c in design_limits else limits[c]
            text = _phrase(names[c], violations[c][m], lim)
            out[m] = np.char.add(np.char.add(out[m].astype(str), ";"), text)
    return out
