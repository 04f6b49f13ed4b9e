"""The engine model: evaluate a batch of designs at once (numpy arrays, one element per design).

A design is one GEMM engine replicated as ``compute_units`` (CUs) over the SLRs; each CU is a PE
array of ``pe_m x pe_n x pe_k`` MACs per cycle with tiles ``tile_m x tile_n x tile_k``, a loop order
(``dataflow``), weight/activation precisions, HBM pseudo-channels per stream and a clock.
Steps (DESIGN.md "The model"):

1. compute: tile-padded cycles (ceil on every dimension) plus pipeline fill per tile;
2. traffic: each operand re-fetched by the loops outside its innermost varying loop;
3. bandwidth: per stream, from its pseudo-channels, burst length and lateral access (dse.hbm);
4. overlap: double-buffered kernels take max(compute, streams, epilogue) + first load + last store;
5. vector work (LayerNorm, softmax, GELU, ...) on a vector unit; epilogues ride on their GEMM;
6. cameras: the images of one policy call are shared among CUs (whole images first, then CUs
   that share one image split its heads or its output columns);
7. resources: DSP from PEs and packing, BRAM/URAM from buffer geometry (dse.memory), LUT
   estimates; shell and margin subtracted per SLR;
8. feasibility with a violation code (``violation_text`` turns it into words).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse import MODEL_VERSION
from dse.hbm import channels_used, port_cap_gbps, ports_used
from dse.memory import buffer_blocks
from dse.params import DATAFLOWS, STORAGES
from dse.platform import RESOURCES, Platform
from dse.workload import GEMM, Kernel, Workload

#: Which bound limits a kernel (index into this tuple is stored as ``bound`` codes).
BOUNDS = ("compute", "weights", "inputs", "outputs", "vector")

#: Violation codes; 0 = feasible. Resource codes are 10 + SLR * 4 + resource index.
VIOLATION_CLOCK, VIOLATION_PUMP, VIOLATION_PCS, VIOLATION_PORTS = 1, 2, 3, 4

# position of loops m, n, k in each dataflow (0 = outermost)
_POS = np.array([[order.index(c) for c in "mnk"] for order in DATAFLOWS], dtype=np.int8)


def _cdiv(a, b):
    return -(-a // b)


@dataclass
class Result:
    """Arrays of one evaluated batch (length n) plus optional per-kernel detail.

    ``kernel_ms`` is (n, n_kernels) time per image per kernel on its CU group, ``kernel_bound``
    the bound code of each; ``slr_used`` is (n, n_slr, 4) resources per SLR.
    """

    columns: dict[str, np.ndarray]
    kernel_names: tuple[str, ...]
    kernel_ms: np.ndarray | None = None
    kernel_bound: np.ndarray | None = None
    slr_used: np.ndarray | None = None


class Model:
    """The analytic model of one platform running one workload.

    Args:
        platform: the typed platform.
        workload: the kernel table.
    """

    def __init__(self, platform: Platform, workload: Workload) -> None:
        self.platform = platform
        self.workload = workload
        kernels = workload.kernels
        self.kernel_names = tuple(k.name for k in kernels)
        self._epi_ops = {k.name: 0.0 for k in kernels}
        for k in kernels:
            if k.epilogue_of:
                self._epi_ops[k.epilogue_of] += k.ops_per_element
        softmax = [k for k in kernels if k.attention and k.kind != GEMM]
        self._softmax_ops = softmax[0].ops_per_element if softmax else 0.0
        self._score_kernel = next((k.name for k in kernels if k.attention and k.kind == GEMM), None)
        self.ops_per_call = workload.ops_per_image * workload.cameras

    # ------------------------------------------------------------------ public
    def evaluate(self, d: dict[str, np.ndarray], *, detail: bool = False) -> Result:
        """Evaluate designs given as parameter arrays (categoricals as integer codes).

        Args:
            d: one array per parameter of dse.params.PARAMS, all of length n.
            detail: also return per-kernel times and bounds and per-SLR resources.

        Returns:
            A :class:`Result`; ``columns`` holds latency_ms, images_per_s, achieved_tops,
            peak_fraction, dsp, bram18, uram, lut, util_*, utilization, bound (code), feasible,
            violation_code, violation_used, violation_limit.
        """
        P, W = self.platform, self.workload
        lg = P.logic
        f = np.asarray(d["clock_mhz"], dtype=float) * 1e6
        wc, ac = d["weight_precision"], d["act_precision"]
        wbits, abits = P.prec_bits[wc], P.prec_bits[ac]
        accbits = P.acc_bits[wc, ac]
        wb, ab, accb = wbits / 8, abits / 8, accbits / 8
        pm, pn, pk = d["pe_m"], d["pe_n"], d["pe_k"]
        tm, tn, tk = d["tile_m"], d["tile_n"], d["tile_k"]
        pos = _POS[d["dataflow"]]
        pos_m, pos_n, pos_k = pos[:, 0], pos[:, 1], pos[:, 2]
        cu = d["compute_units"]
        fuse = d["fuse_attention"].astype(bool)
        dbuf = d["double_buffer"].astype(bool)
        share = d["share_weights"].astype(bool)
        lanes = d["vector_lanes"]
        cams = W.cameras
        # cameras over CUs: whole images first; CUs beyond that split one image (g per image)
        g = np.maximum(cu // cams, 1)
        rounds = _cdiv(cams, np.minimum(cu, cams))
        tile_cycles = (tm // pm) * (tn // pn) * (tk // pk) + lg["pipeline_fill_cycles"]

        # stream bandwidths in bytes/s per burst length (HBM model, dse.hbm)
        hbm = P.hbm
        rate = np.minimum(hbm.pc_measured_gbps, port_cap_gbps(hbm, d["clock_mhz"]))
        lat_r = hbm.read_latency_ns / hbm.outstanding
        lat_w = hbm.write_latency_ns / hbm.outstanding
        lateral = np.where(share, 1.0 - 1.0 / cu, 0.0)
        lat_factor = 1.0 / ((1.0 - lateral) + lateral / hbm.lateral_efficiency)
        n_w = d["pc_weights"] * lat_factor / np.where(share, cu, 1) * 1e9
        n_in = d["pc_inputs"] * 1e9
        n_out = d["pc_outputs"] * 1e9
        maxb = float(hbm.max_burst_bytes)

        def bw(nch, burst, lat):  # bytes/s of a stream for bursts of `burst` bytes
            b = np.minimum(burst, maxb)
            return nch * (b / (b / rate + lat))

        bw_in_stream = bw(n_in, maxb, lat_r)
        bw_out_stream = bw(n_out, maxb, lat_w)

        n = len(f)
        names = self.kernel_names
        kt = np.empty((n, len(names))) if detail else None
        kb = np.empty((n, len(names)), dtype=np.int8) if detail else None
        total_s = np.zeros(n)
        bound_s = np.zeros((len(BOUNDS), n))
        cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        for i, k in enumerate(W.kernels):
            if k.kind == GEMM:
                key = (k.m, k.k, k.n, k.instances, k.weight_operand, k.attention,
                       self._epi_ops[k.name], k.name == self._score_kernel)
                if key not in cache:
                    cache[key] = self._gemm(k, locals_=locals())
                t_inst, bcode = cache[key]
            else:
                if k.epilogue_of:
                    if kt is not None:
                        kt[:, i] = 0.0
                        kb[:, i] = BOUNDS.index("vector")
                    continue
                t_inst, bcode = self._vector(k, locals_=locals())
            if k.instances > 1:
                cnt = (k.count // k.instances) * _cdiv(k.instances, g)
            else:
                cnt = k.count
            t = t_inst * cnt
            total_s += t
            np.add.at(bound_s, (bcode, np.arange(n)), t) if False else None
            for b in range(len(BOUNDS)):
                bound_s[b] += np.where(bcode == b, t, 0.0)
            if kt is not None:
                kt[:, i] = t * 1e3
                kb[:, i] = bcode

        latency_s = total_s * rounds
        cols: dict[str, np.ndarray] = {}
        cols["latency_ms"] = latency_s * 1e3
        cols["latency_per_image_ms"] = total_s * 1e3
        cols["images_per_s"] = cams / latency_s
        cols["achieved_tops"] = self.ops_per_call / latency_s / 1e12
        peak = cu * (pm * pn * pk) * 2.0 * f
        cols["peak_fraction"] = self.ops_per_call / latency_s / peak
        cols["bound"] = np.argmax(bound_s, axis=0).astype(np.int8)

        per_cu = self._resources(d, wbits, abits, accbits, locals_=locals())
        self._feasibility(d, per_cu, cols)
        if detail:
            return Result(cols, names, kt, kb, cols.pop("_slr_used"))
        cols.pop("_slr_used")
        return Result(cols, names)

    # ----------------------------------------------------------------- kernels
    def _gemm(self, k: Kernel, *, locals_: dict) -> tuple[np.ndarray, np.ndarray]:
        """Time per execution (s) and bound code of one GEMM kernel on one CU."""
        L = locals_
        tm, tn, tk, g, f = L["tm"], L["tn"], L["tk"], L["g"], L["f"]
        ab, wb, accb = L["ab"], L["wb"], L["accb"]
        pos_m, pos_n, pos_k = L["pos_m"], L["pos_n"], L["pos_k"]
        fuse, rate, maxb = L["fuse"], L["rate"], L["maxb"]
        M, K = k.m, k.k
        Ne = k.n if k.instances > 1 else _cdiv(k.n, g)  # output columns on this CU
        Tm, Tn, Tk = _cdiv(M, tm), _cdiv(Ne, tn), _cdiv(K, tk)
        t_comp = Tm * Tn * Tk * L["tile_cycles"] / f
        # re-fetch multipliers: the loop an operand does not index, when it sits outside a
        # loop that the operand does index and that really iterates (trip count > 1)
        mult_a = np.where(((pos_n < pos_m) & (Tm > 1)) | ((pos_n < pos_k) & (Tk > 1)), Tn, 1)
        mult_b = np.where(((pos_m < pos_k) & (Tk > 1)) | ((pos_m < pos_n) & (Tn > 1)), Tm, 1)
        mult_c = np.where(((pos_k < pos_m) & (Tm > 1)) | ((pos_k < pos_n) & (Tn > 1)), Tk, 1)
        bb = wb if k.weight_operand else ab
        mk = np.minimum(tm, M)
        kk = np.minimum(tk, K)
        nk = np.minimum(tn, Ne)
        bytes_a = M * K * ab * mult_a
        bytes_b = K * Ne * bb * mult_b
        bytes_c = M * Ne * ab + 2.0 * (mult_c - 1) * M * Ne * accb
        if k.attention:
            mult_b = np.where(fuse, 1, mult_b)   # K / V of a head stay on chip
            bytes_b = K * Ne * bb * mult_b
            if k.name == self._score_kernel:
                bytes_c = np.where(fuse, 0.0, bytes_c)  # scores never leave the chip
            else:
                bytes_a = np.where(fuse, 0.0, bytes_a)  # probabilities never leave the chip
        # bursts: activations row-major (a tile row, whole rows when the tile spans K);
        # weights pre-packed tile by tile (contiguous tile)
        burst_a = kk * ab * np.where(tk >= K, mk, 1)
        t_a = bytes_a / L["bw"](L["n_in"], burst_a, L["lat_r"])
        if k.weight_operand:
            burst_b = kk * nk * wb
            bw_b = L["bw"](L["n_w"], burst_b, L["lat_r"])
            t_w, t_in = bytes_b / bw_b, t_a
        else:
            burst_b = nk * ab * np.where(tn >= Ne, kk, 1)
            bw_b = L["bw"](L["n_in"], burst_b, L["lat_r"])
            t_w, t_in = 0.0 * t_a, t_a + bytes_b / bw_b
        burst_c = nk * ab * np.where(tn >= Ne, mk, 1)
        bw_c = L["bw"](L["n_out"], burst_c, L["lat_w"])
        t_out = bytes_c / bw_c
        epi = self._epi_ops[k.name]
        if k.name == self._score_kernel:
            epi = epi + np.where(fuse, self._softmax_ops, 0.0)
        t_vec = M * Ne * epi / (L["lanes"] * f)
        stack = np.stack([t_comp + 0.0 * t_a, t_w + 0.0 * t_a, t_in, t_out, t_vec + 0.0 * t_a])
        bcode = np.argmax(stack, axis=0).astype(np.int8)
        first = np.maximum(mk * kk * ab / L["bw"](L["n_in"], burst_a, L["lat_r"]),
                           kk * nk * bb / bw_b)
        last = mk * nk * ab / bw_c
        overlapped = stack.max(axis=0) + first + last
        serial = np.maximum(t_comp, t_vec) + np.maximum.reduce([t_w + 0.0 * t_a, t_in, t_out])
        return np.where(L["dbuf"], overlapped, serial), bcode

    def _vector(self, k: Kernel, *, locals_: dict) -> tuple[np.ndarray, np.ndarray]:
        """Time per execution (s) and bound code of a stand-alone vector kernel on one CU."""
        L = locals_
        g, f, ab = L["g"], L["f"], L["ab"]
        share = (1.0 if k.instances > 1 else 1.0 / g)  # heads split by count, rows otherwise
        elems = k.m * k.n * share
        t_vec = elems * k.ops_per_element / (L["lanes"] * f)
        t_in = k.read_elems * share * ab / L["bw_in_stream"]
        t_out = k.write_elems * share * ab / L["bw_out_stream"]
        if k.attention:  # softmax: fused into the score GEMM when attention is fused
            t_vec, t_in, t_out = (np.where(L["fuse"], 0.0, x) for x in (t_vec, t_in, t_out))
        zero = 0.0 * t_in
        stack = np.stack([zero, zero, t_in + zero, t_out + zero, t_vec + zero])
        bcode = np.argmax(stack, axis=0).astype(np.int8)
        t = np.where(L["dbuf"], stack.max(axis=0), t_vec + np.maximum(t_in, t_out))
        return t, bcode

    # --------------------------------------------------------------- resources
    def _resources(self, d, wbits, abits, accbits, *, locals_: dict) -> np.ndarray:
        """Per-CU resources (n, 4) in RESOURCES order; also fills dsp/bram18/uram/lut columns."""
        P, lg, L = self.platform, self.platform.logic, locals_
        pm, pn, pk, tm, tn, tk = L["pm"], L["pn"], L["pk"], L["tm"], L["tn"], L["tk"]
        wc, ac = d["weight_precision"], d["act_precision"]
        pes = pm * pn * pk
        pump = np.where(d["double_pump"], 2, 1)
        dsp_pe = np.ceil(pes / (P.macs_per_dsp[wc, ac] * pump))
        lanes = L["lanes"]
        dsp = dsp_pe + lanes * lg["dsp_per_vector_lane"]
        uram_sel = d["buffer_storage"] == STORAGES.index("uram")
        copies = np.where(L["dbuf"], 2, 1)
        kw = dict(use_uram=uram_sel, lutram_max_bits=lg["lutram_max_bits"],
                  lutram_bits_per_lut=lg["lutram_bits_per_lut"])
        bbits = np.maximum(wbits, abits)  # B holds weights or (attention) activations
        bufs = [  # (width bits, depth per bank, banks)
            (pk * abits, (tm // pm) * (tk // pk), pm),
            (pk * bbits, (tk // pk) * (tn // pn), pn),
            (pn * accbits, (tm // pm) * (tn // pn), pm),
        ]
        bram = uram = lut_ram = banks = 0
        for w, dep, nb in bufs:
            b, u, lr = buffer_blocks(w, dep, nb, copies=copies, **kw)
            bram, uram, lut_ram, banks = bram + b, uram + u, lut_ram + lr, banks + nb * copies
        # fused attention: K and V of one head and a row block of scores stay on chip
        s = self.workload.tokens
        dh = self.workload.hidden // max(1, self._heads())
        fuse = L["fuse"]
        for w, dep, nb in ((pk * abits, s * dh // pk // pn, pn), (pk * abits, s * dh // pk // pn, pn),
                           (pn * accbits, (tm // pm) * _cdiv(s, pn), pm)):
            b, u, lr = buffer_blocks(w, dep, nb, **kw)
            bram = bram + np.where(fuse, b, 0)
            uram = uram + np.where(fuse, u, 0)
            lut_ram = lut_ram + np.where(fuse, lr, 0)
            banks = banks + np.where(fuse, nb, 0)
        ports = d["pc_weights"] + d["pc_inputs"] + d["pc_outputs"]
        lut = (pes * P.lut_per_mac[wc, ac] + banks * lg["lut_per_bank"]
               + ports * lg["lut_per_axi_port"] + lg["lut_per_cu"]
               + lanes * lg["lut_per_vector_lane"]
               + np.where(d["double_pump"], dsp_pe * lg["lut_per_dsp_double_pump"], 0) + lut_ram)
        return np.stack([lut, dsp, bram, uram], axis=1).astype(float)

    def _heads(self) -> int:
        k = next((k for k in self.workload.kernels if k.attention and k.kind == GEMM), None)
        return k.instances if k else 1

    def _feasibility(self, d, per_cu: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        P = self.platform
        cu = d["compute_units"]
        n_slr = len(P.slr_names)
        order = np.array(P.cu_slr_order)
        # CUs on each SLR: CU i goes to order[i % len(order)]
        reps = len(order)
        cus = np.zeros((len(cu), n_slr))
        for j, s in enumerate(order):
            cus[:, s] += cu // reps + (j < cu % reps)
        slr_used = cus[:, :, None] * per_cu[:, None, :]
        total = per_cu * cu[:, None]
        for r, name in enumerate(RESOURCES):
            cols[name] = total[:, r]
            cols[f"util_{'bram' if name == 'bram18' else name}"] = total[:, r] / P.total_available[r]
        cols["utilization"] = np.max(total / P.total_available, axis=1)
        code = np.zeros(len(cu), dtype=np.int16)
        used = np.zeros(len(cu))
        limit = np.zeros(len(cu))

        def flag(mask, c, u, lim):
            new = mask & (code == 0)
            code[new] = c
            used[new] = np.broadcast_to(u, mask.shape)[new]
            limit[new] = np.broadcast_to(lim, mask.shape)[new]

        clk = d["clock_mhz"]
        flag(clk > P.max_kernel_mhz, VIOLATION_CLOCK, clk, P.max_kernel_mhz)
        flag(d["double_pump"].astype(bool) & (2 * clk > P.dsp_max_mhz), VIOLATION_PUMP, 2 * clk,
             P.dsp_max_mhz)
        pcs = channels_used(d["pc_weights"], d["pc_inputs"], d["pc_outputs"], cu,
                            d["share_weights"].astype(bool))
        flag(pcs > P.hbm.usable_pcs, VIOLATION_PCS, pcs, P.hbm.usable_pcs)
        ports = ports_used(d["pc_weights"], d["pc_inputs"], d["pc_outputs"], cu)
        flag(ports > P.hbm.max_ports, VIOLATION_PORTS, ports, P.hbm.max_ports)
        for s in range(n_slr):
            for r in range(len(RESOURCES)):
                flag(slr_used[:, s, r] > P.slr_available[s, r], 10 + s * 4 + r, slr_used[:, s, r],
                     P.slr_available[s, r])
        cols["feasible"] = code == 0
        cols["violation_code"] = code
        cols["violation_used"] = used
        cols["violation_limit"] = limit
        cols["_slr_used"] = slr_used


def violation_text(platform: Platform, code: np.ndarray, used: np.ndarray,
                   limit: np.ndarray) -> np.ndarray:
    """Readable violations, e.g. ``bram18 SLR0 1520 > 818 available`` ('' when feasible)."""
    names = {0: "", VIOLATION_CLOCK: "clock_mhz", VIOLATION_PUMP: "double-pumped DSP clock MHz",
             VIOLATION_PCS: "hbm pseudo-channels", VIOLATION_PORTS: "hbm AXI ports"}
    for s, slr in enumerate(platform.slr_names):
        for r, res in enumerate(RESOURCES):
            names[10 + s * 4 + r] = f"{res} {slr}"
    out = np.full(len(code), "", dtype=object)
    for c in np.unique(code):
        if c == 0:
            continue
        m = code == c
        u = np.ceil(used[m]).astype(np.int64).astype(str)
        lim = np.floor(limit[m]).astype(np.int64).astype(str)
        out[m] = np.char.add(np.char.add(np.char.add(names[int(c)] + " ", u), " > "),
                             np.char.add(lim, " available"))
    return out


def model_version() -> str:
    return MODEL_VERSION
