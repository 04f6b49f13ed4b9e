"""A structural recount of an exported kernel: what the generated C++ instantiates, read back from
the source text (``dse_config.h``, ``kernel.cpp``, ``vector.cpp``), to hold against the design's
hardware description (dse.hardware, ``design.json``'s ``hardware`` section).

It reads the source, not the exporter's Python: constants from their ``constexpr`` lines, array
declarations with their dimensions, the ARRAY_PARTITION / ARRAY_RESHAPE / BIND_STORAGE pragmas
that name them, the multiplies of the unrolled PE body (walking its ``for`` loops and the
``if constexpr`` branches the design's constants select), and the m_axi pragmas with the port
types of the top function. :func:`compare` lists every disagreement with a description.

Recount rules (docs/kernel.md):

- an array ``T x[A][B][C]`` with ``ARRAY_PARTITION complete dim=1`` and ``ARRAY_RESHAPE
  complete dim=3`` is ``A`` banks of ``C``-element words, ``B`` deep; a 1-D array with
  ``ARRAY_PARTITION cyclic factor=F`` is ``F`` banks of one element, ``ceil(n / F)`` deep;
  ``ARRAY_PARTITION complete dim=0`` puts every element in registers (counted as banks of all
  but the last dimension, the last dimension deep: ``acc_partials[PE_M][PE_N][ACC_SLOTS]``);
- copies: an array local to a function with ``#pragma HLS DATAFLOW`` is a ping-pong channel
  (2); the ``CBlock`` streams ``p_s`` and ``c_s`` are one bank each, as deep as their STREAM
  pragma, in the storage their BIND_STORAGE type=fifo names; an array
  sized 1 by a ``FUSE_ATTENTION ? n : 1`` dimension is not built when attention is not fused;
- element bits: ``float``/``std::int32_t`` 32, ``bf16_t`` 16, ``std::int8_t`` 8, ``int4_t`` 4.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Bits of an on-chip element per C++ type name.
TYPE_BITS = {"float": 32, "std::int32_t": 32, "bf16_t": 16, "std::int8_t": 8, "int4_t": 4}
#: Arrays the hardware description lists (dse.hardware.BUFFERS).
DESCRIBED = ("a_buf", "b_buf", "c_buf", "k_buf", "v_buf", "s_buf", "vec_x", "vec_r", "vec_io",
             "acc_partials", "a_hold", "b_hold")  # fmt: skip
#: Local arrays the description names otherwise: (function, variable, n-th declaration of that
#: variable in the function) -> the description's name.
LOCAL_NAMES = {
    ("load_a", "stage", 0): "a_stage",
    ("load_b", "stage", 0): "bt_stage",
    ("load_b", "stage", 1): "b_stage",
    ("load_p", "stage", 0): "p_stage",
    ("store_c", "stage", 0): "c_stage",
    ("store_c", "bias", 0): "bias_row",
    ("store_c", "res", 0): "res_row",
    ("store_c", "out", 0): "out_row",
}
#: Arrays sized 1 by a ``HOLD_A ? n : 1`` (``HOLD_A ? 1 : n``) dimension: not built (HLS removes
#: the hold copy the loop order does not use; its reads and writes sit behind a false constant).
HOLD_COPIES = ("a_hold", "b_hold")
#: DSPs per float operator as Vitis HLS binds them by default (platform precisions.FP32:
#: fmul maxdsp 3, fadd fulldsp 2).
FMUL_DSP, FADD_DSP = 3, 2


def _constants(texts: list[str]) -> dict[str, Any]:
    """Every ``constexpr int|bool NAME = expr;`` of the sources, evaluated in order."""
    env: dict[str, Any] = {}
    for text in texts:  # #define NAME <integer> (the row sizes a test may override)
        for name, value in re.findall(r"#define (\w+) (\d+)\b", text):
            env.setdefault(name, int(value))
    order = next((m.group(1) for t in texts for m in [re.search(r'DATAFLOW\[4\] = "(\w+)"', t)]
                  if m), "mnk")  # fmt: skip
    pat = re.compile(r"constexpr (int|bool|double) (\w+) = ([^;]+);")
    for text in texts:
        for kind, name, expr in pat.findall(text):
            # loop_pos('d'): the position of loop d in the tile loop order
            expr = re.sub(r"loop_pos\('(\w)'\)", lambda m: str(order.index(m.group(1))), expr)
            try:
                env[name] = _eval(expr, env)
            except (ValueError, SyntaxError, KeyError):
                continue
            if kind == "bool":
                env[name] = bool(env[name])
    return env


def _eval(expr: str, env: Mapping[str, Any]) -> Any:
    """An integer expression of the sources (names, literals, + - * / %, comparisons, C's
    ``?:`` and ``true``/``false``), evaluated safely; ``/`` is C's integer division."""
    e = expr.strip().replace("true", "True").replace("false", "False")
    e = re.sub(
        r"([\w()+\-*/ ]+?)\s*\?\s*([\w()+\-*/ ]+?)\s*:\s*([\w()+\-*/ ]+)",
        r"((\2) if (\1) else (\3))",
        e,
    )
    tree = ast.parse(e, mode="eval")

    def ev(n: ast.AST) -> Any:
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float | bool):
            return n.value
        if isinstance(n, ast.Name):
            if n.id not in env:
                raise KeyError(n.id)
            return env[n.id]
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                   ast.Div: lambda: int(a / b) if isinstance(a, int) and isinstance(b, int)
                   else a / b, ast.Mod: lambda: a % b}  # fmt: skip
            if type(n.op) in ops:
                return ops[type(n.op)]()
        if isinstance(n, ast.IfExp):
            return ev(n.body) if ev(n.test) else ev(n.orelse)
        if isinstance(n, ast.Compare) and len(n.ops) == 1:
            a, b = ev(n.left), ev(n.comparators[0])
            cmp = {ast.Eq: a == b, ast.NotEq: a != b, ast.Lt: a < b, ast.Gt: a > b,
                   ast.LtE: a <= b, ast.GtE: a >= b}  # fmt: skip
            return cmp[type(n.ops[0])]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        raise ValueError(f"cannot evaluate {ast.dump(n)}")

    return ev(tree)


def _types(header: str) -> dict[str, str]:
    """The design's type aliases (``using act_t = std::int8_t;``)."""
    return dict(re.findall(r"using (\w+_t) = ([\w:]+);", header))


def _arrays(text: str, env: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, dict]:
    """Array declarations ``[static] T name[d1][d2]...;`` (aliases ``using X = T[..]..;``
    expanded): element type and evaluated dimensions, and the function each sits in."""
    aliases = {
        name: (elem, re.findall(r"\[([^\]]+)\]", dims))
        for name, elem, dims in re.findall(r"using (\w+) = (\w+)((?:\[[^\]]+\])+);", text)
    }
    out: dict[str, dict] = {}
    seen: dict[tuple[str, str], int] = {}
    decl = re.compile(
        r"^\s*(?:static\s+|DSE_CSIM_STATIC\s+)?(?:const\s+)?([\w:]+)\s+(\w+)((?:\[[^\]]+\])*)\s*;",
        re.M,
    )
    for m in decl.finditer(text):
        typ, name, dims = m.group(1), m.group(2), m.group(3)
        if typ in aliases and not dims:
            typ, dim_exprs = aliases[typ]
        elif dims:
            dim_exprs = re.findall(r"\[([^\]]+)\]", dims)
        else:
            continue
        elem = types.get(typ, typ)
        if elem not in TYPE_BITS:
            continue
        try:
            shape = [int(_eval(d, env)) for d in dim_exprs]
        except (KeyError, ValueError, SyntaxError):
            continue
        where = _enclosing_function(text, m.start())
        nth = seen.get((where, name), 0)
        seen[(where, name)] = nth + 1
        key = LOCAL_NAMES.get((where, name, nth))
        if key is None:
            key = name if name in DESCRIBED or name not in out else f"{where}.{name}"
        # the pragmas of a variable declared more than once: the lines right after this one
        own = re.match(r"(?:[ \t]*#pragma HLS [^\n]*\n)*", text[m.end() :].lstrip(" \t\n"))
        out[key] = {"type": elem, "dims": shape, "where": where, "var": name,
                    "dim_exprs": dim_exprs, "own_pragmas": own.group(0) if own else ""}  # fmt: skip
    return out


def _enclosing_function(text: str, pos: int) -> str:
    """Name of the function whose body holds position ``pos`` ('' at namespace scope)."""
    depth, i = 0, pos
    while i > 0:
        i -= 1
        if text[i] == "}":
            depth += 1
        elif text[i] == "{":
            if depth > 0:
                depth -= 1
                continue
            close = text.rstrip()[:0] or text[:i].rstrip()
            if not close.endswith(")"):
                if re.search(r"namespace\s*\w*\s*$", close):
                    return ""
                continue  # a struct or an initialiser: keep looking outwards
            j, par = len(close) - 1, 0
            while j >= 0:  # the matching '('
                par += {")": 1, "(": -1}.get(close[j], 0)
                if par == 0:
                    break
                j -= 1
            m = re.search(r"(\w+)\s*$", close[:j])
            name = m.group(1) if m else ""
            if name not in ("for", "if", "while", "switch", "constexpr"):
                return name
    return ""


def _function_body(text: str, name: str) -> str:
    """The body of function ``name`` (its first definition)."""
    m = re.search(rf"\b{name}\s*\([^;{{]*\)\s*{{", text)
    if not m:
        return ""
    depth, i = 0, m.end() - 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    return ""


def _pragmas(text: str) -> dict[str, list[dict[str, str]]]:
    """ARRAY_PARTITION / ARRAY_RESHAPE / BIND_STORAGE pragmas per variable."""
    out: dict[str, list[dict[str, str]]] = {}
    for kind, args in re.findall(
        r"#pragma HLS (ARRAY_PARTITION|ARRAY_RESHAPE|BIND_STORAGE) ([^\n]+)", text
    ):
        fields = dict(re.findall(r"(\w+)=(\w+)", args))
        fields["kind"] = kind
        out.setdefault(fields.get("variable", ""), []).append(fields)
    return out


def _geometry(name: str, arr: Mapping[str, Any], pragmas: list[dict[str, str]]) -> dict:
    """Banks, words and depth of one array from its dimensions and pragmas."""
    dims = list(arr["dims"])
    bits = TYPE_BITS[arr["type"]]
    banks, per_word, registers, storage = 1, 1, False, None
    rest = dims[:]
    for p in pragmas:
        dim = int(p.get("dim", "0"))
        if p["kind"] == "ARRAY_PARTITION" and p.get("type") == "complete" and dim == 0:
            registers = True
        elif p["kind"] == "ARRAY_PARTITION" and p.get("type") == "complete":
            banks *= dims[dim - 1]
            rest[dim - 1] = 1
        elif p["kind"] == "ARRAY_PARTITION" and p.get("type") == "cyclic":
            f = int(p["factor"])
            banks *= f
            rest[dim - 1] = math.ceil(dims[dim - 1] / f)
        elif p["kind"] == "ARRAY_RESHAPE" and p.get("type") == "complete":
            per_word *= dims[dim - 1]
            rest[dim - 1] = 1
        elif p["kind"] == "BIND_STORAGE":
            storage = p.get("impl")
    if registers:  # every element its own register: one per bank, the last dimension deep
        banks, per_word, rest = math.prod(dims[:-1]), 1, dims[-1:]
    return {
        "name": name,
        "element_bits": bits,
        "word_bits": bits * per_word,
        "depth": math.prod(rest),
        "banks": banks,
        "registers": registers,
        "storage": "registers" if registers else storage,
    }


def recount(folder: Path) -> dict[str, Any]:
    """Buffers, PE multiplies and m_axi ports of the export in ``folder``, from its sources.

    Returns:
        ``buffers`` (name -> element/word bits, depth, banks, copies, storage), ``extra_buffers``
        (arrays with storage pragmas the description has no entry for), ``pe`` (multiplies of the
        PE body by kind and the DSPs they take), ``axi`` (bundle -> ports and width bits).
    """
    folder = Path(folder)
    header = (folder / "dse_config.h").read_text()
    kernel = (folder / "kernel.cpp").read_text()
    vector = (folder / "vector.cpp").read_text()
    env = _constants([header, kernel, vector])
    types = _types(header)
    arrays = {**_arrays(vector, env, types), **_arrays(kernel, env, types)}
    pragmas = {**_pragmas(vector), **_pragmas(kernel)}
    dataflow_functions = {
        f for f in ("tile_step", "row_step") if "#pragma HLS DATAFLOW" in _function_body(
            kernel if f == "tile_step" else vector, f)
    }  # fmt: skip
    buffers: dict[str, dict] = {}
    extra: dict[str, dict] = {}
    declared: dict[str, int] = {}
    for arr in arrays.values():
        declared[arr["var"]] = declared.get(arr["var"], 0) + 1
    for name, arr in arrays.items():
        if declared[arr["var"]] > 1 or name in LOCAL_NAMES.values():
            mine = _pragmas(arr["own_pragmas"]).get(arr["var"], [])
        else:
            mine = pragmas.get(arr["var"], [])
        if not mine:
            continue
        if name in HOLD_COPIES and any(
            "HOLD_A" in e and int(_eval(e, env)) == 1 for e in arr["dim_exprs"]
        ):
            continue  # the hold copy this loop order does not use: not built
        g = _geometry(name, arr, mine)
        fused_only = name in ("k_buf", "v_buf", "s_buf")
        built = not fused_only or bool(env.get("FUSE_ATTENTION"))
        g["copies"] = (2 if arr["where"] in dataflow_functions else 1) if built else 0
        if name == "acc_partials" and env.get("ACC_SLOTS", 1) == 1:
            continue  # integer engines: one accumulator per PE output, no interleaving
        if name in DESCRIBED or name in LOCAL_NAMES.values():
            buffers[name] = g
        elif not g["registers"] and g["depth"] > 1:  # not registers of the logic, not unbuilt
            extra[name] = g
    for var in ("p_s", "c_s"):
        fifo = _fifo(kernel, var, env, types)
        if fifo:
            buffers[var] = fifo
    return {
        "constants": {
            k: env[k] for k in ("PE_M", "PE_N", "PE_K", "PACK_N", "ACC_SLOTS") if k in env
        },
        "buffers": buffers,
        "extra_buffers": extra,
        "pe": _pe_multiplies(kernel, env, types),
        "axi": _axi(kernel),
    }


def _fifo(kernel: str, var: str, env: Mapping[str, Any], types: Mapping[str, str]) -> dict:
    """A FIFO of ``CBlock`` (``hls::stream<CBlock> var``): one bank of PE_M x PE_N accumulators
    per word, as deep as its STREAM pragma, stored as its BIND_STORAGE type=fifo says."""
    if not re.search(rf"hls::stream<CBlock> {var}\b", kernel):
        return {}
    depth = re.search(rf"#pragma HLS STREAM variable={var} depth=(\d+)", kernel)
    impl = re.search(rf"#pragma HLS BIND_STORAGE variable={var} type=fifo impl=(\w+)", kernel)
    bits = TYPE_BITS[types.get("acc_t", "float")]
    storage = impl.group(1) if impl else None
    return {
        "name": var,
        "element_bits": bits,
        "word_bits": bits * env["PE_M"] * env["PE_N"],
        "depth": int(depth.group(1)) if depth else 2,
        "banks": 1,
        "copies": 1,
        "registers": storage == "srl",
        "storage": "registers" if storage == "srl" else storage,
    }


def _pe_multiplies(kernel: str, env: Mapping[str, Any], types: Mapping[str, str]) -> dict:
    """Multiplies and float adds of one PE step (pe_step: every loop unrolled), counted by
    walking its loops and the ``if constexpr`` branches the constants select."""
    body = _function_body(kernel, "pe_step")
    integer = types.get("acc_t") == "std::int32_t"
    ctx = {**env, "std::is_integral_v<acc_t>": integer}
    counts = {"dsp_mul": 0, "fmul": 0, "tree_adds": 0}
    _walk(body, ctx, 1, counts)
    pk = env["PE_K"]
    fadds = counts["tree_adds"] * (pk - 1) if not integer else 0
    # compute(): acc_partials[i][j][slot] += dot[i][j] and the slots' final tree, per PE output
    outputs = env["PE_M"] * env["PE_N"]
    acc_adds = outputs if not integer else 0
    slot_adds = outputs * (env.get("ACC_SLOTS", 1) - 1) if not integer else 0
    dsp = (
        counts["dsp_mul"] if integer else FMUL_DSP * counts["fmul"] + FADD_DSP * (fadds + acc_adds)
    )
    return {
        "dsp_multiplies": counts["dsp_mul"],
        "float_multiplies": counts["fmul"],
        "float_adds": fadds + acc_adds,
        "slot_adds": slot_adds,
        "dsp": dsp,
        "slot_add_dsp": FADD_DSP * slot_adds,
    }


_FOR = re.compile(r"for \(int (\w+) = (\w+); \1 < ([^;]+); (?:\+\+\1|\1 \+= (\w+))\)\s*{")
_IF = re.compile(r"if constexpr \(([^)]*(?:\([^)]*\))?[^)]*)\)\s*{")


def _block(text: str, start: int) -> int:
    """Index just past the brace block opening at ``start`` (text[start] == '{')."""
    depth = 0
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return j + 1
    return len(text)


def _walk(text: str, env: Mapping[str, Any], trips: int, counts: dict[str, int]) -> None:
    """Count multiplies in ``text``, each weighted by ``trips`` (the enclosing loops' trip
    counts), descending into loops and the selected ``if constexpr`` branches."""
    i = 0
    while i < len(text):
        f, c = _FOR.search(text, i), _IF.search(text, i)
        nxt = min((m for m in (f, c) if m), key=lambda m: m.start(), default=None)
        _count_statements(text[i : nxt.start() if nxt else len(text)], trips, counts)
        if nxt is None:
            return
        end = _block(text, nxt.end() - 1)
        inner = text[nxt.end() : end - 1]
        if nxt is f:
            start = int(_eval(f.group(2), env))
            bound = int(_eval(f.group(3), env))
            step = int(_eval(f.group(4), env)) if f.group(4) else 1
            _walk(inner, env, trips * max(0, math.ceil((bound - start) / step)), counts)
            i = end
        else:
            cond = c.group(1).strip()
            take = bool(env[cond]) if cond in env else bool(_eval(cond, env))
            rest = text[end:]
            m = re.match(r"\s*else\s+(if constexpr|{)", rest)
            if take:
                _walk(inner, env, trips, counts)
            if m:  # skip or take the else branch (an else-if chain recurses)
                k = end + m.start(1)
                if m.group(1) == "{":
                    e_end = _block(text, k)
                    if not take:
                        _walk(text[k + 1 : e_end - 1], env, trips, counts)
                    i = e_end
                else:
                    sub = _IF.match(text, k)
                    chain_end = _block(text, sub.end() - 1)
                    while True:  # the chain's last block
                        more = re.match(r"\s*else\s+(if constexpr|{)", text[chain_end:])
                        if not more:
                            break
                        k2 = chain_end + more.start(1)
                        if more.group(1) == "{":
                            chain_end = _block(text, k2)
                        else:
                            chain_end = _block(text, _IF.match(text, k2).end() - 1)
                    if not take:
                        _walk(text[k:chain_end], env, trips, counts)
                    i = chain_end
            else:
                i = end


def _count_statements(text: str, trips: int, counts: dict[str, int]) -> None:
    counts["dsp_mul"] += trips * len(re.findall(r"\bdsp_mul\(", text))
    for line in re.findall(r"prod\[[^;]*=[^;]*;", text):
        counts["fmul"] += trips * len(re.findall(r"\)\s\*\s", line))
    counts["tree_adds"] += trips * len(re.findall(r"tree_sum<PE_K>\(", text))


def _axi(kernel: str) -> dict[str, dict[str, Any]]:
    """m_axi bundles: their ports and data width (512 for ``dse::word_t`` ports, the widening
    limit for element-typed ones)."""
    sig = kernel[kernel.index('extern "C" void dse_gemm(') :]
    sig = sig[: sig.index(")")]
    width = {}
    for typ, name in re.findall(r"([\w:]+)\*\s+(\w+)", sig):
        width[name] = 512 if typ.endswith("word_t") else None
    out: dict[str, dict[str, Any]] = {}
    for port, bundle, rest in re.findall(
        r"#pragma HLS INTERFACE mode=m_axi port=(\w+) bundle=(\w+)([^\n]*)", kernel
    ):
        w = width.get(port)
        m = re.search(r"max_widen_bitwidth=(\d+)", rest)
        b = out.setdefault(bundle, {"ports": [], "width_bits": set()})
        b["ports"].append(port)
        b["width_bits"].add(w if w is not None else (int(m.group(1)) if m else 32))
    return {k: {"ports": v["ports"], "width_bits": sorted(v["width_bits"])} for k, v in out.items()}


def compare(counted: Mapping[str, Any], hardware: Mapping[str, Any]) -> list[str]:
    """Disagreements between a recount and a hardware description (empty: they agree)."""
    problems = []
    described = {b["name"]: b for b in hardware["buffers"]}
    for name in sorted(set(described) | set(counted["buffers"])):
        want, got = described.get(name), counted["buffers"].get(name)
        if want is None or got is None:
            problems.append(f"{name}: {'not in the source' if got is None else 'not described'}")
            continue
        keys = ["element_bits", "word_bits", "depth", "banks", "copies"]
        if got["registers"] and want["primitive"] == "registers":
            # registers: how the bits group into banks and words is the recount's convention;
            # the bits and the copies must agree
            keys = ["element_bits", "copies"]
            bits = [float(x["word_bits"]) * float(x["depth"]) * float(x["banks"])
                    for x in (want, got)]  # fmt: skip
            if bits[0] != bits[1]:
                problems.append(f"{name}.bits: described {bits[0]:g}, source {bits[1]:g}")
        for key in keys:
            if float(want[key]) != float(got[key]):
                problems.append(f"{name}.{key}: described {want[key]}, source {got[key]}")
        if (want["primitive"] == "registers") != bool(got["registers"]) or (
            not got["registers"] and got["storage"] != want["primitive"]
        ):
            problems.append(
                f"{name}.primitive: described {want['primitive']}, source {got['storage']}"
            )
    pe = next(m for m in hardware["multipliers"] if m["name"] == "pe")
    if float(pe["dsp"]) != float(counted["pe"]["dsp"]):
        problems.append(f"pe.dsp: described {pe['dsp']}, source {counted['pe']['dsp']}")
    bundles = {p["name"]: p for p in hardware["axi_ports"]}
    for name, b in counted["axi"].items():
        if name not in bundles:
            problems.append(f"m_axi bundle {name}: not described")
        elif b["width_bits"] != [int(bundles[name]["width_bits"])]:
            problems.append(
                f"m_axi bundle {name}: width {b['width_bits']}, described "
                f"{bundles[name]['width_bits']}"
            )
    for name in bundles:
        if name not in counted["axi"]:
            problems.append(f"m_axi bundle {name}: not in the source")
    return problems
