"""The published power figures file (``configs/calibration/power.yaml``, docs/power-data.md):
read, and every value :mod:`dse.powercal` uses checked for its type and range.

The file has no schema (its entries carry many free-form, source-shaped fields); this module
checks the fields the held-out checks read, and a bad one is a :class:`dse.errors.UserError`
naming the file, the entry (its index and id), the key, the value and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dse.errors import UserError
from dse.loader import load_yaml
from dse.power import MAX_POWER_W

#: ``use:`` values (the file's header).
USES = ("fit", "check", "exclude")

#: ``power.scope`` values (the file's header; ``unverified``: not said by the source).
SCOPES = ("board", "rail", "chip", "unverified")

#: ``memory.kind`` values.
MEMORY_KINDS = ("hbm", "ddr", "none")

#: Highest clock accepted, MHz (assumption: above any UltraScale+ fabric clock, 891 MHz DSP).
MAX_MHZ = 1000.0


class _Where:
    """Names a value: the file, and the entry index and id before the key."""

    def __init__(self, file: str, prefix: str) -> None:
        self.file, self.prefix = file, prefix

    def fail(self, key: str, value: Any, allowed: str, message: str = "bad value") -> None:
        raise UserError(message if value is not None else "missing", file=self.file,
                        key=f"{self.prefix}{key}", value=value, allowed=allowed)

    def number(self, key: str, value: Any, *, low: float, high: float, open_low: bool = False,
               unit: str = "") -> float:
        """A finite number in [low, high] (``open_low``: above low)."""
        ok = (not isinstance(value, bool) and isinstance(value, (int, float))
              and math.isfinite(value) and (value > low if open_low else value >= low)
              and value <= high)
        if not ok:
            self.fail(key, value, f"a number, {low:g} {'<' if open_low else '<='} {unit or 'x'} "
                      f"<= {high:g}")
        return float(value)

    def mapping(self, key: str, value: Any, *, empty: bool = True) -> dict[str, Any]:
        """A mapping, or {} for null."""
        if value is None:
            return {}
        if not isinstance(value, dict) or (not empty and not value):
            self.fail(key, value, "a mapping of keys to values" + ("" if empty else
                                                                   " (at least one)"))
        return value

    def choice(self, key: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.fail(key, value, ", ".join(allowed))
        return str(value)


def _watts(w: _Where, key: str, value: Any) -> None:
    """A ``*_w`` figure of ``power``: a number, a list of numbers or a mapping of numbers, each
    in 0 .. MAX_POWER_W W."""
    if isinstance(value, dict):
        if not value:
            w.fail(key, value, "a number of W, a list or a mapping of them (not empty)")
        for k, v in value.items():
            w.number(f"{key}.{k}", v, low=0, high=MAX_POWER_W, unit="W")
    elif isinstance(value, list):
        for j, v in enumerate(value):
            w.number(f"{key}[{j}]", v, low=0, high=MAX_POWER_W, unit="W")
    else:
        w.number(key, value, low=0, high=MAX_POWER_W, unit="W")


def check_entry(e: Any, i: int, file: str) -> None:
    """One entry's fields that dse.powercal reads (module docstring)."""
    if not isinstance(e, dict):
        raise UserError("not a mapping", file=file, key=f"entries[{i}]", value=e,
                        allowed="an entry (id, board, use, power ...; docs/power-data.md)")
    for k in ("id", "board", "use", "power"):
        if k not in e:
            raise UserError(f"entry lacks {k}", file=file, key=f"entries[{i}]",
                            value=e.get("id"),
                            allowed="id, board, use and power (docs/power-data.md)")
    if not isinstance(e["id"], str) or not e["id"]:
        raise UserError("not an entry id", file=file, key=f"entries[{i}].id", value=e["id"],
                        allowed="a non-empty string")
    w = _Where(file, f"entries[{i}] ({e['id']}).")
    for k in ("board", "design"):
        if k in e and (not isinstance(e[k], str) or not e[k]):
            w.fail(k, e[k], "a non-empty string" + (" (a board file's path)" if k == "board"
                                                     else " (the design this entry builds)"))
    use = w.choice("use", e["use"], USES)
    power = w.mapping("power", e["power"], empty=False)
    scope = w.choice("power.scope", power.get("scope"), SCOPES)
    for k, v in power.items():
        if k.endswith("_w") and k != "value_w" and v is not None:
            _watts(w, f"power.{k}", v)
    derives = power.get("derives")
    if derives is not None:
        parts = {"dsp": "dsp", "bram18": "bram", "uram": "uram"}
        if not isinstance(derives, list) or not set(derives) <= set(parts):
            w.fail("power.derives", derives, "a list of dsp, bram18, uram")
        for name in derives:
            if parts[name] not in (power.get("breakdown_w") or {}):
                w.fail("power.breakdown_w", power.get("breakdown_w"),
                       f"a {parts[name]} figure (power.derives names {name})")
    if power.get("value_w") is not None:
        w.number("power.value_w", power["value_w"], low=0, high=MAX_POWER_W, open_low=True,
                 unit="W")
    if e.get("clock_mhz") is not None:
        w.number("clock_mhz", e["clock_mhz"], low=0, high=MAX_MHZ, open_low=True, unit="MHz")
    res = w.mapping("resources", e.get("resources"))
    for k, v in res.items():
        if v is not None:
            w.number(f"resources.{k}", v, low=0, high=1e8)
    mem = w.mapping("memory", e.get("memory"))
    if "kind" in mem:
        w.choice("memory.kind", mem["kind"], MEMORY_KINDS)
    if mem.get("channels") is not None:
        w.number("memory.channels", mem["channels"], low=0, high=1024)
    bw = w.mapping("bandwidth", e.get("bandwidth"))
    ramp = w.mapping("bandwidth.ramp_mbps_per_channel", bw.get("ramp_mbps_per_channel"))
    if ramp:
        start = w.number("bandwidth.ramp_mbps_per_channel.start", ramp.get("start"), low=0,
                         high=1e6, unit="MB/s")
        w.number("bandwidth.ramp_mbps_per_channel.end", ramp.get("end"), low=start, high=1e6,
                 open_low=True, unit="MB/s")
        if "kind" not in mem or not mem.get("channels"):
            w.fail("memory", e.get("memory"), "a memory ramp's kind and channels (> 0)")
    if use == "fit" and scope == "chip":  # the chip fit's inputs (dse.powercal.chip_rows)
        for key, v in (("resources.lut", res.get("lut")), ("clock_mhz", e.get("clock_mhz")),
                       ("power.value_w", power.get("value_w"))):
            if v is None or v == 0:
                w.fail(key, v, "a positive number (a use: fit chip entry is fitted on it)")


def check_coefficients(raw: Any, file: str) -> None:
    """The ``coefficients.idle_board_w`` readings dse.powercal compares with static_w."""
    w = _Where(file, "coefficients.")
    if raw is not None and not isinstance(raw, dict):
        raise UserError("bad value", file=file, key="coefficients", value=raw,
                        allowed="a mapping of keys to values")
    idle = w.mapping("idle_board_w", (raw or {}).get("idle_board_w"))
    for name, spec in idle.items():
        if name == "note":
            continue
        spec = w.mapping(f"idle_board_w.{name}", spec)
        values = spec.get("values", [spec["value"]] if "value" in spec else [])
        if not isinstance(values, list) or not values:
            w.fail(f"idle_board_w.{name}.values", values, "a list of W readings (not empty)")
        for j, v in enumerate(values):
            w.number(f"idle_board_w.{name}.values[{j}]", v, low=0, high=MAX_POWER_W, open_low=True,
                     unit="W")


def load_power(path: str | Path) -> dict[str, Any]:
    """The power figures file, read and checked (a mapping with ``entries`` and
    ``coefficients``).

    Raises:
        UserError: the file is missing or not YAML, or a value dse.powercal reads is of the
            wrong type or out of range (naming the entry, the key and the value).
    """
    p = Path(path)
    raw = load_yaml(p)  # the bounded safe reader every input goes through (dse.loader)
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise UserError("no entries list", file=str(p), key="entries",
                        allowed="configs/calibration/power.yaml's layout (docs/power-data.md)")
    seen: set[str] = set()
    for i, e in enumerate(raw["entries"]):
        check_entry(e, i, str(p))
        if e["id"] in seen:
            raise UserError("entry id used twice", file=str(p), key=f"entries[{i}].id",
                            value=e["id"], allowed="a unique id per entry")
        seen.add(e["id"])
    check_coefficients(raw.get("coefficients"), str(p))
    return raw
