"""The design parameters: names, kinds and allowed values (the columns every result row carries).

A batch of designs is a ``dict[str, numpy.ndarray]`` with one array per parameter, all of the same
length. Categorical parameters are stored in a batch as small integer codes indexing the tuples
below (``PRECISIONS``, ``DATAFLOWS``, ``STORAGES``); Parquet and JSON use the strings.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Element precisions, narrowest last. The platform's precision table must define each.
PRECISIONS = ("FP32", "BF16", "INT8", "INT4")

#: Loop orders over the tile indices, outermost first (``mnk``: k innermost = output stationary;
#: ``kmn``/``knm``: k outermost, partial sums spill; ``nkm``/``knm``: weights reused across m).
DATAFLOWS = ("mnk", "nmk", "mkn", "nkm", "kmn", "knm")

#: Where the large on-chip tile buffers live.
STORAGES = ("bram", "uram")

#: GEMM kernel classes that may run at their own precision and runtime tile (dse.workload).
KERNEL_CLASSES = ("embed", "proj", "attention", "mlp")

#: Per-class precision choices: ``same`` follows the engine default (weight_precision for the
#: weight classes, act_precision for the attention products).
CLASS_PRECISIONS = ("same",) + PRECISIONS

#: Runtime tile divisors the mapper chooses from by default (``mapping.tile_divisors``): a class
#: runs tiles of tile / divisor rows and columns (at least one PE step) inside the engine's buffers.
TILE_DIVISORS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Param:
    """One design parameter.

    Attributes:
        name: column and config name.
        kind: ``int``, ``bool`` or ``cat`` (categorical with ``choices``).
        doc: what it means, with its unit.
        choices: allowed strings for ``cat`` parameters.
        low: smallest allowed value for ``int`` parameters.
        high: largest allowed value for ``int`` parameters (None: no fixed bound).
    """

    name: str
    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    low: int = 1
    high: int | None = None


PARAMS: tuple[Param, ...] = (
    Param("weight_precision", "cat", "precision of static weights", PRECISIONS),
    Param("act_precision", "cat", "precision of activations", PRECISIONS),
    Param("pe_m", "int", "PE array rows (output rows per cycle)", high=1024),
    Param("pe_n", "int", "PE array columns (output columns per cycle)", high=1024),
    Param(
        "pe_k", "int", "MACs per PE per cycle along the reduction (dot-product width)", high=1024
    ),
    Param("tile_m", "int", "on-chip tile rows (multiple of pe_m)", high=1 << 16),
    Param("tile_n", "int", "on-chip tile columns (multiple of pe_n)", high=1 << 16),
    Param("tile_k", "int", "on-chip tile depth (multiple of pe_k)", high=1 << 16),
    Param("dataflow", "cat", "loop order over tiles, outermost first", DATAFLOWS),
    Param(
        "pc_weights",
        "int",
        "memory channels (HBM pseudo-channels or DDR banks) for the weight stream, per CU",
        high=32,
    ),
    Param("pc_inputs", "int", "memory channels for the input-activation stream, per CU", high=32),
    Param("pc_outputs", "int", "memory channels for the output stream, per CU", high=32),
    Param("share_weights", "bool", "all CUs read one copy of the weights (lateral HBM access)"),
    Param(
        "share_streams",
        "bool",
        "a CU's streams share one set of channels and ports (max of their pc_* counts)",
    ),
    Param("compute_units", "int", "replicated GEMM engines (CUs), spread over the SLRs", high=64),
    Param("double_pump", "bool", "DSPs clocked at twice the kernel clock"),
    Param("buffer_storage", "cat", "memory type of the large tile buffers", STORAGES),
    Param("double_buffer", "bool", "ping-pong tile buffers so loads overlap compute"),
    Param("fuse_attention", "bool", "scores, softmax and context stay on chip (costs buffers)"),
    Param(
        "vector_lanes",
        "int",
        "lanes of the per-CU vector unit (LayerNorm, softmax, GELU)",
        high=4096,
    ),
    Param(
        "clock_mhz",
        "int",
        "kernel clock in MHz, chosen per design by the clock policy (config clock:); "
        "0 in a batch: not chosen yet",
        low=0,
        high=1000,
    ),
    *(
        Param(
            f"prec_{c}",
            "cat",
            f"precision of the {c} kernels ('same': the engine default); "
            "the engine pays for the widest mode in use",
            CLASS_PRECISIONS,
        )
        for c in KERNEL_CLASSES
    ),
    *(
        Param(
            f"tile_{d}_div_{c}",
            "int",
            f"runtime tile_{d} divisor of the {c} kernels (tile_{d} / divisor, at least pe_{d})",
            low=1,
            high=64,
        )
        for c in KERNEL_CLASSES
        for d in "mn"
    ),
)

#: Optional parameters and the value a config that omits them gets: a uniform design (one
#: precision, one tile for every kernel class) with one channel set per stream.
UNIFORM_DEFAULTS: dict[str, object] = {
    "share_streams": False,  # optional too: one channel set per stream unless asked
    **{f"prec_{c}": "same" for c in KERNEL_CLASSES},
    **{f"tile_{d}_div_{c}": 1 for c in KERNEL_CLASSES for d in "mn"},
}

#: The mapping parameters: chosen per design by the mapper (dse.model), not swept or searched.
MAPPING_PARAMS: tuple[str, ...] = tuple(
    f"tile_{d}_div_{c}" for c in KERNEL_CLASSES for d in "mn"
)

#: The kernel clock: chosen per design by the model's clock policy (dse.timing.ClockPolicy), or
#: pinned by config, never swept or searched. Batches of hardware designs hold
#: :data:`CLOCK_UNSET` there; result rows record the clock each design got.
CLOCK_PARAM = "clock_mhz"
CLOCK_UNSET = 0

PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMS)
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


#: A reasonable INT8 design on the U280 (3 CUs of 16 x 16 x 16 PEs): the base of the tests' hand
#: checks and of the config fuzz benchmark, and the defaults of a published build's parameters.
#: 250 MHz, the clock the hand checks were written at; under MODEL_VERSION 2.4.0 it closes 239.7
#: MHz (dse.timing: LUTs at 85% of SLR0 with the shell, past the refitted 0.22 knee), so at 250
#: it fails timing only, and tests that need it feasible run it at 235. No double pumping: it
#: has no documented HLS route (facts.md §9), so the kernel does not build it.
EXAMPLE_DESIGN: dict[str, object] = {
    "weight_precision": "INT8",
    "act_precision": "INT8",
    "pe_m": 16,
    "pe_n": 16,
    "pe_k": 16,
    "tile_m": 128,
    "tile_n": 128,
    "tile_k": 256,
    "dataflow": "mnk",
    "pc_weights": 4,
    "pc_inputs": 2,
    "pc_outputs": 1,
    "share_weights": False,
    "compute_units": 3,
    "double_pump": False,
    "buffer_storage": "bram",
    "double_buffer": True,
    "fuse_attention": False,
    "vector_lanes": 32,
    "clock_mhz": 250,
}
