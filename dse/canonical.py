"""One design, one name: the canonical form of a design's precisions.

A design states its precisions twice over: the engine defaults ``weight_precision`` and
``act_precision``, and one ``prec_<class>`` per GEMM class (``same`` follows the default: the
weight precision for the weight classes ``embed``, ``proj`` and ``mlp``, the activation precision
for ``attention``). Several spellings therefore describe one piece of hardware: with every weight
class overriding it, ``weight_precision`` is used by no kernel at all, and BF16, INT8 or FP32 there
give identical figures. The canonical form is the one spelling kept in results, plots and exports:

- each class's *effective* precision is unchanged (its override, or the default it follows);
- ``weight_precision`` is the widest effective precision of the weight classes, which is also the
  weight mode the engine is built for (dse.model takes the widest mode in use);
- a class whose effective precision equals its default says ``same``; only narrower classes keep
  an override;
- ``act_precision`` stays as given: it is always used (the activations between kernels and the
  activation operand of every weight class).

The model's figures depend on the effective precisions only, so a design and its canonical form
evaluate identically (``tests/test_canonical.py`` checks this on random designs). The grid's designs
(no per-class overrides) are already canonical.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dse.params import KERNEL_CLASSES

#: GEMM classes whose ``same`` follows ``weight_precision`` (``attention``: ``act_precision``).
WEIGHT_CLASSES: tuple[str, ...] = tuple(c for c in KERNEL_CLASSES if c != "attention")


def effective_codes(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each GEMM class's effective precision as a code into ``dse.params.PRECISIONS``.

    Args:
        batch: parameter codes (``prec_<class>``: 0 = ``same``, else 1 + precision code; a missing
            ``prec_<class>`` counts as ``same``).

    Returns:
        class name -> (n,) precision codes (0 = FP32, the widest).
    """
    w = np.asarray(batch["weight_precision"], dtype=np.int64)
    a = np.asarray(batch["act_precision"], dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for c in KERNEL_CLASSES:
        default = a if c == "attention" else w
        code = batch.get(f"prec_{c}")
        if code is None:
            out[c] = default
        else:
            code = np.asarray(code, dtype=np.int64)
            out[c] = np.where(code == 0, default, code - 1)
    return out


def canonical(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The canonical form of a batch of designs (module docstring); other parameters untouched.

    Args:
        batch: parameter codes, one array per parameter (dse.params).

    Returns:
        a new batch with ``weight_precision`` and ``prec_<class>`` in canonical form.
    """
    out = dict(batch)
    eff = effective_codes(batch)
    widest = np.minimum.reduce([eff[c] for c in WEIGHT_CLASSES])  # code 0 is the widest
    out["weight_precision"] = widest.astype(np.int64)
    act = np.asarray(batch["act_precision"], dtype=np.int64)
    for c in KERNEL_CLASSES:
        default = act if c == "attention" else widest
        out[f"prec_{c}"] = np.where(eff[c] == default, 0, eff[c] + 1).astype(np.int64)
    return out


def is_canonical(batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n,) True where a design is already in canonical form."""
    canon = canonical(batch)
    ok = np.ones(len(np.asarray(batch["weight_precision"])), dtype=bool)
    for name in ("weight_precision", *(f"prec_{c}" for c in KERNEL_CLASSES)):
        given = batch.get(name)
        given = np.zeros_like(ok, dtype=np.int64) if given is None else np.asarray(given)
        ok &= given == canon[name]
    return ok


__all__ = ["WEIGHT_CLASSES", "canonical", "effective_codes", "is_canonical"]
