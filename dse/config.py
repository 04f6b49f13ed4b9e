"""Load YAML configs safely, validate them against the JSON Schemas, return frozen typed objects.

Errors name the file, the key path, the bad value and what is allowed (:class:`UserError`).
The model never sees raw YAML: it gets :class:`dse.platform.Platform` and
:class:`dse.workload.Workload` objects built here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dse.errors import UserError

# every input file is read through dse.loader (decode_utf8 and read_text re-exported here)
from dse.loader import decode_utf8, load_json, load_yaml, read_text  # noqa: F401

#: The JSON Schemas shared with the Snakemake workflow (validate(config, schema=...)).
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "workflow" / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``workflow/schemas/<name>.schema.yaml``."""
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the bounded safe loader (dse.loader): a missing, non-regular,
    oversized, non-UTF-8 or malformed file is a UserError."""
    return load_yaml(path)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


def _range(s: dict[str, Any]) -> str:
    """The numeric range of a schema in words, with its reason (``description``)."""
    lo = (">=", s["minimum"]) if "minimum" in s else (">", s.get("exclusiveMinimum"))
    hi = ("<=", s["maximum"]) if "maximum" in s else ("<", s.get("exclusiveMaximum"))
    kind = "an integer" if s.get("type") == "integer" else "a number"
    if lo[1] is None and hi[1] is None:
        return ""
    if lo[0] == ">=" and hi[0] == "<=" and lo[1] is not None and hi[1] is not None:
        text = f"{kind} {_num(lo[1])}..{_num(hi[1])}"
    else:
        text = kind + " " + " and ".join(f"{op} {_num(v)}" for op, v in (lo, hi) if v is not None)
    reason = s.get("description")
    return f"{text}; {reason}" if reason else text


def _allowed(error: jsonschema.ValidationError) -> str:
    v, s = error.validator, error.schema
    if v == "enum":
        return ", ".join(map(str, s["enum"]))
    if v == "const":  # a value kept for compatibility, with the reason in its description
        text = json.dumps(s["const"])
        return f"{text}; {s['description']}" if s.get("description") else text
    if v == "type":
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        return _range(s) or "a value of type " + " or ".join(map(str, types))
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return _range(s)
    if v == "pattern":
        return s.get("description") or f"a string matching {s['pattern']}"
    if v == "required":
        return "this key must be present"
    if v == "additionalProperties":
        return "one of " + ", ".join(sorted(s.get("properties", {}))) if s.get("properties") else ""
    if v == "propertyNames":
        names = s["propertyNames"]
        return ", ".join(names["enum"]) if "enum" in names else names.get("description", "")
    if v in ("minItems", "uniqueItems"):
        return "a non-empty list of distinct values"
    if v in ("maxItems", "minLength", "maxLength"):
        return s.get("description") or error.message
    return ""


def _is_int(_checker: Any, value: Any) -> bool:
    """JSON Schema ``integer`` without 4.0 or 1e30: integers in a config are Python ints."""
    return isinstance(value, int) and not isinstance(value, bool)


#: Draft 2020-12 where ``integer`` means an int (YAML ``4.0`` is a float and is refused).
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int),
)


def _parts(root: dict[str, Any], s: Any) -> list[dict[str, Any]]:
    """A schema with its local ``$ref`` and ``allOf`` parts resolved, as a flat list."""
    if not isinstance(s, dict):
        return []
    out = [s]
    if "$ref" in s and s["$ref"].startswith("#/"):
        target: Any = root
        for part in s["$ref"][2:].split("/"):
            target = target[part]
        out += _parts(root, target)
    for sub in s.get("allOf", []):
        out += _parts(root, sub)
    return out


def subschema(schema_name: str, path: tuple | list) -> dict[str, Any]:
    """The constraints a schema puts on the value at ``path`` (mapping keys and list indices),
    merged over ``$ref`` and ``allOf``; ``{}`` where the schema says nothing."""
    root = schema(schema_name)
    current: list[Any] = [root]
    for key in path:
        nxt: list[Any] = []
        for s in current:
            for p in _parts(root, s):
                if isinstance(key, int):
                    if isinstance(p.get("items"), dict):
                        nxt.append(p["items"])
                    continue
                if key in p.get("properties", {}):
                    nxt.append(p["properties"][key])
                    continue
                pats = [
                    v for pat, v in p.get("patternProperties", {}).items() if re.search(pat, key)
                ]
                nxt += pats
                if not pats and isinstance(p.get("additionalProperties"), dict):
                    nxt.append(p["additionalProperties"])
        current = nxt
    merged: dict[str, Any] = {}
    for s in current:
        for p in _parts(root, s):
            merged.update({k: v for k, v in p.items() if k not in ("$ref", "allOf")})
    return merged


def _join(path: tuple) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def _non_finite(data: Any, path: tuple = ()) -> tuple | None:
    """The key path of the first NaN or infinite number below ``data`` (None: all finite)."""
    if isinstance(data, float):
        return None if math.isfinite(data) else path
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for k, v in items:
        found = _non_finite(v, path + (k,))
        if found is not None:
            return found
    return None


def validate(data: Any, schema_name: str, file: str | Path, *, prefix: str = "") -> None:
    """Validate ``data`` against a schema; raise a one-line UserError for the first problem.

    Integers must be ints (not 4.0), and every number must be finite: JSON Schema lets YAML
    ``.nan`` and ``.inf`` through ``minimum``/``maximum``, so they are refused here by name.
    ``prefix`` is put before every key path (``search.`` for the search section).
    """
    validator = _Validator(schema(schema_name))
    errors = sorted(
        validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if not errors:
        bad = _non_finite(data)
        if bad is not None:
            value = data
            for k in bad:
                value = value[k]
            raise UserError(
                "not a finite number",
                file=str(file),
                key=prefix + _join(bad),
                value=value,
                allowed=_range(subschema(schema_name, bad)) or "a finite number",
            )
        return
    err = jsonschema.exceptions.best_match(errors) or errors[0]
    # descend into the most specific sub-error (allOf/$ref produce nested contexts)
    while err.context:
        err = sorted(err.context, key=lambda e: len(list(e.absolute_path)))[-1]
    key = _key_path(err)
    if prefix:
        key = prefix.rstrip(".") if key == "(top level)" else prefix + key
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        key = f"{key}.{missing}" if key != "(top level)" else missing
        raise UserError("missing key", file=str(file), key=key, allowed=_allowed(err))
    if err.validator == "additionalProperties":
        raise UserError(
            f"unknown key ({err.message})", file=str(file), key=key, allowed=_allowed(err)
        )
    value = err.instance if not isinstance(err.instance, (dict, list)) else None
    message, allowed = err.message, _allowed(err)
    if err.validator in _NUMERIC:
        # the whole range (minimum and maximum may sit in different allOf parts)
        message = "out of range"
        allowed = _range(subschema(schema_name, tuple(err.absolute_path))) or allowed
    elif err.validator == "type":
        message = "wrong type"
        allowed = _range(subschema(schema_name, tuple(err.absolute_path))) or allowed
    elif err.validator == "enum":
        message = "not one of the allowed values"
    elif err.validator == "const":
        message = "not the allowed value"
    elif err.validator == "pattern":
        message = "malformed"
    raise UserError(
        f"invalid value: {message}",
        file=str(file),
        key=key,
        value=value,
        allowed=allowed or None,
    )


_NUMERIC = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


def _mapping(data: Any, path: str | Path, *, allowed: str) -> dict[str, Any]:
    """``data`` when it is a mapping; otherwise a UserError naming the file."""
    if not isinstance(data, dict):
        raise UserError(
            "expected a mapping at the top level",
            file=str(path),
            value=type(data).__name__,
            allowed=allowed,
        )
    return data


def load_validated(path: str | Path, schema_name: str) -> dict[str, Any]:
    """Read a YAML file and validate it against ``workflow/schemas/<schema_name>.schema.yaml``."""
    data = _mapping(read_yaml(path), path, allowed="a YAML mapping of keys to values")
    _validate_file(data, schema_name, path)
    if schema_name == "platform":  # facts a schema cannot cross-check (dse.physics)
        from dse.physics import check_platform

        check_platform(data, file=str(path))
    return data


def _validate_file(data: dict[str, Any], schema_name: str, path: str | Path) -> None:
    """:func:`validate` a whole file's mapping; nesting too deep to check is a UserError."""
    try:
        validate(data, schema_name, path)
    except RecursionError:
        raise UserError("lists or mappings nested too deeply", file=str(path)) from None


def with_defaults(data: dict[str, Any], schema_name: str) -> dict[str, Any]:
    """A copy of a schema-valid mapping with every absent key that has a ``default`` in the schema
    filled in (nested mappings too)."""
    return _fill(schema(schema_name), schema(schema_name), data)


def _fill(root: dict[str, Any], s: dict[str, Any], data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    props: dict[str, Any] = {}
    for p in _parts(root, s):
        props.update(p.get("properties", {}))
    out = dict(data)
    for key, sub in props.items():
        parts = _parts(root, sub)
        default = next((p["default"] for p in parts if "default" in p), None)
        if key not in out and default is not None:
            out[key] = json.loads(json.dumps(default))  # a fresh copy
        if key in out:
            out[key] = _fill(root, sub, out[key])
    return out


def load_model(path: str | Path, *, cameras: int = 1, exported: bool = False) -> dict[str, Any]:
    """Read a model file, a project YAML model or a Hugging Face ``config.json`` (dse.hf_config),
    validate and check it, and return the model mapping the workload is built from: schema
    defaults filled in, and ``cameras`` (images per policy call, a setting of the run) added.
    ``exported``: the file is an export's ``model.json`` (a run's model mapping, which records
    the run's ``cameras``): that key is replaced by ``cameras``, not refused.

    Raises:
        UserError: naming the file, the key (the config.json key for a HF config), the value and
            what is allowed.
    """
    from dse import hf_config
    from dse.workload import check_model

    p = Path(path)
    if p.suffix.lower() == ".json":
        data = _read_json(p)
    else:
        data = read_yaml(p)
    data = _mapping(
        data, p,
        allowed="a model mapping (configs/models/README.md) or a Hugging Face config.json",
    )
    keys: dict[str, str] = {}
    if hf_config.is_hf_config(data):
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", p.stem)[:64] or "model"
        data, keys = hf_config.to_model(data, name=stem, file=str(p))
    elif exported:
        data = {k: v for k, v in data.items() if k != "cameras"}
    elif "cameras" in data:
        raise UserError(
            "images per policy call are a setting of the run, not of the model",
            file=str(p),
            key="cameras",
            value=data["cameras"],
            allowed="remove it here and set `cameras:` at the top level of the run config",
        )
    try:
        _validate_file(data, "model", p)
        model = {**with_defaults(data, "model"), "cameras": cameras}
        check_model(model, file=str(p))
        from dse.physics import check_quality

        check_quality(model, file=str(p))
    except UserError as exc:
        raise hf_config.translate(exc, keys) if keys else exc from None
    return model


def _read_json(p: Path) -> Any:
    return load_json(p)


def config_hash(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (stored in Parquet metadata)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Config:
    """A validated run configuration with its platform and model resolved.

    Attributes:
        path: the main config file.
        raw: the validated main config mapping.
        platform_raw: the validated platform mapping.
        model_raw: the model mapping the workload is built from (dse.config.load_model): the
            model file (a HF config.json mapped onto the YAML keys) with defaults filled in and
            ``cameras`` from the run config.
    """

    path: Path
    raw: dict[str, Any]
    platform_raw: dict[str, Any]
    model_raw: dict[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def platform(self):
        """The typed :class:`dse.platform.Platform`."""
        from dse.platform import Platform

        if "platform" not in self._cache:
            self._cache["platform"] = Platform.from_mapping(
                self.platform_raw, source=self.platform_path
            )
        return self._cache["platform"]

    @property
    def workload(self):
        """The typed :class:`dse.workload.Workload` of the model."""
        from dse.workload import Workload

        if "workload" not in self._cache:
            self._cache["workload"] = Workload.from_mapping(self.model_raw)
        return self._cache["workload"]

    @property
    def platform_path(self) -> Path:
        return resolve(self.path, self.raw["platform"])

    @property
    def model_path(self) -> Path:
        return resolve(self.path, self.raw["model"])

    @property
    def hash(self) -> str:
        """Hash of everything that determines results (main config, platform, model)."""
        return config_hash(self.raw, self.platform_raw, self.model_raw)

    @property
    def objectives(self) -> list[tuple[str, str]]:
        return [(o["name"], o["direction"]) for o in self.raw["objectives"]]

    @property
    def tile_divisors(self) -> tuple[int, ...]:
        """Runtime tile divisors the mapper chooses from (``mapping.tile_divisors``)."""
        from dse.params import TILE_DIVISORS

        return tuple(self.raw.get("mapping", {}).get("tile_divisors", TILE_DIVISORS))

    @property
    def clock(self):
        """The run's :class:`dse.timing.ClockPolicy` (``clock:``; per design by default)."""
        from dse.timing import clock_policy

        return clock_policy(self.raw.get("clock"), self.platform, file=str(self.path))

    def model(self, *, mapper: bool = True, clock: bool = True):
        """The :class:`dse.model.Model` of this run; with ``mapper`` each design's runtime
        tiles are chosen per kernel class, with ``clock`` each design's clock by the config's
        clock policy (sweeps and searches range over hardware only); ``clock=False``: designs
        run at their own ``clock_mhz``."""
        from dse.model import Model

        return Model(
            self.platform,
            self.workload,
            tile_divisors=self.tile_divisors if mapper else None,
            clock=self.clock if clock else None,
        )


def resolve(config_path: Path, ref: str) -> Path:
    """Resolve a path written in a config file relative to that file's folder."""
    p = Path(ref)
    return p if p.is_absolute() else (config_path.parent / p)


def check_unique_ids(path: Path, entries: list[dict], key: str = "designs") -> None:
    """Each entry's ``id`` once in the file ``path`` (its list ``key``).

    Raises:
        UserError: an id used twice, naming the second entry.
    """
    seen: set[str] = set()
    for i, e in enumerate(entries):
        if e["id"] in seen:
            raise UserError(
                "design id used twice", file=str(path), key=f"{key}[{i}].id", value=e["id"],
                allowed="each id once",
            )
        seen.add(e["id"])


def check_refs(path: Path, key: str, entry: dict, refs: tuple[str, ...]) -> None:
    """Raise a UserError when a file an entry of ``path`` names under ``refs`` (relative to the
    file's folder) does not exist."""
    for ref in refs:
        if ref in entry and not resolve(path, entry[ref]).is_file():
            raise UserError(
                "file does not exist",
                file=str(path),
                key=f"{key}.{ref}",
                value=str(resolve(path, entry[ref])),
                allowed="a path relative to this file's folder",
            )


def load_config(path: str | Path) -> Config:
    """Load and validate the main config and the platform and model files it names."""
    path = Path(path)
    raw = load_validated(path, "config")
    platform_raw = load_validated(resolve(path, raw["platform"]), "platform")
    model_raw = load_model(resolve(path, raw["model"]), cameras=raw.get("cameras", 1))
    if "search" in raw:  # the schema part here; dse.search adds the semantic checks
        validate(raw["search"], "search", path, prefix="search.")
    names = [o["name"] for o in raw["objectives"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise UserError(
                "objective listed twice",
                file=str(path),
                key=f"objectives[{i}].name",
                value=name,
                allowed="each objective once",
            )
    for i, name in enumerate(names):  # power and energy need the board's power model
        if name in ("power_w", "energy_mj", "energy_per_image_mj") and "power" not in platform_raw:
            raise UserError(
                "objective needs the board's power model (a power: section)",
                file=str(path),
                key=f"objectives[{i}].name",
                value=name,
                allowed=f"another objective, or a platform file with power: ({raw['platform']} "
                "has none; docs/power.md)",
            )
    cfg = Config(path=path, raw=raw, platform_raw=platform_raw, model_raw=model_raw)
    # semantic checks that a schema cannot express
    cfg.platform  # noqa: B018  (builds and checks the platform)
    cfg.clock  # noqa: B018  (checks the clock policy against the platform)
    from dse.space import check_hardware_only, check_space

    for section in ("sweep", "search"):
        space = (raw.get(section) or {}).get("space")
        if isinstance(space, dict):
            check_hardware_only(space, file=str(path), key=f"{section}.space")
    if "space" in raw.get("sweep", {}):
        check_space(raw["sweep"]["space"], cfg.platform, file=str(path), key="sweep.space")
        _check_sweep_size(raw, file=str(path))
    if isinstance(raw.get("search"), dict):
        check_journal_path(raw["search"].get("storage"), file=str(path),
                           inputs=(path, cfg.platform_path, cfg.model_path))
    return cfg


def _check_sweep_size(raw: dict[str, Any], *, file: str) -> None:
    """The grid must fit in memory per shard and on disk (dse.sizing)."""
    from dse.sizing import check_sweep_size
    from dse.space import Grid

    grid = Grid(raw["sweep"]["space"], file=file)
    check_sweep_size(grid.size, int(raw["sweep"]["shards"]), file=file)


#: The design ids a run can give: sweep ``g-<grid index>``, search ``s<worker>-<number>`` (or
#: ``s-<number>``), refinement ``r-<16 hex digits>`` (dse.space, dse.search.export, dse.refine).
DESIGN_ID = re.compile(r"(g-(?P<g>[0-9]{9,})|s(?P<w>[0-9]*)-[0-9]{9,}|r-[0-9a-f]{16})\Z")


def check_named(raw: dict[str, Any], *, file: str) -> None:
    """``select.named`` ids that no run of this config can give are refused before any job (the
    workflow calls this: there every id comes from the run's own results; ``dse select`` by hand
    may read a front of any origin)."""
    named = (raw.get("select") or {}).get("named") or []
    grid_size = None
    for i, design_id in enumerate(named):
        m = DESIGN_ID.match(str(design_id))
        problem = None
        if m is None:
            problem = "not a design id dse gives"
        elif m.group("g") is not None:
            if grid_size is None:
                from dse.space import Grid

                grid_size = Grid(raw["sweep"]["space"], file=file).size
            if int(m.group("g")) >= grid_size:
                problem = f"beyond the sweep grid ({grid_size:,} designs, g-000000000 first)"
        elif m.group("w"):
            workers = int((raw.get("search") or {}).get("workers", 2)) if "search" in raw else 0
            if int(m.group("w")) >= workers:
                problem = f"no search worker {m.group('w')} ({workers} configured)"
        if problem:
            raise UserError(
                f"{problem}; this design cannot be in the results",
                file=file,
                key=f"select.named[{i}]",
                value=design_id,
                allowed="g-<9+ digits> below the grid size, s<worker>-<9+ digits>, "
                "r-<16 hex digits> (a design_id of results/)",
            )


#: Suffixes of the files a run reads or writes: a journal must be none of them.
_NOT_A_JOURNAL = (".parquet", ".yaml", ".yml", ".json", ".png", ".svg", ".md", ".tsv", ".log",
                  ".cfg", ".h", ".cpp", ".py", ".smk")


def check_journal_path(
    storage: Any, *, file: str | None, inputs: tuple = (), key: str = "search.storage"
) -> None:
    """``search.storage`` as a journal file: not a folder, a device or FIFO, a link, nor a file
    the run reads or writes (an output would be overwritten, or would overwrite the study).

    Raises:
        UserError: naming search.storage, the path and what is allowed.
    """
    import os
    import stat

    if not isinstance(storage, str) or "://" in storage:
        return  # the default journal, or an RDB URL (dse.search checks those)
    p = Path(storage)
    allowed = "a new or journal file path of its own, e.g. results/search/study.journal"
    problem = None
    if p.is_symlink():
        problem = "is a symbolic link (the journal is never written through a link)"
    elif p.exists():
        mode = p.stat().st_mode
        if stat.S_ISDIR(mode):
            problem = "is a folder"
        elif not stat.S_ISREG(mode):
            problem = "is not a regular file (a device, FIFO or socket)"
    if problem is None and p.suffix.lower() in _NOT_A_JOURNAL:
        problem = f"names a {p.suffix} file, which the run reads or writes"
    if problem is None:
        real = os.path.realpath(p)
        if any(os.path.realpath(f) == real for f in inputs):
            problem = "is an input file of the run"
    if problem:
        raise UserError(problem, file=file, key=key, value=storage, allowed=allowed)
