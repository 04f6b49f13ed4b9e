"""Load YAML configs safely, validate them against the JSON Schemas, return frozen typed objects.

Errors name the file, the key path, the bad value and what is allowed (:class:`UserError`).
The model never sees raw YAML: it gets :class:`dse.platform.Platform` and
:class:`dse.workload.Workload` objects built here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dse.errors import UserError

#: The JSON Schemas shared with the Snakemake workflow (validate(config, schema=...)).
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "workflow" / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``workflow/schemas/<name>.schema.yaml``."""
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the safe loader; a missing or malformed file is a UserError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file does not exist", file=str(p)) from None
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror})", file=str(p)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise UserError(f"malformed YAML{where}: {problem}", file=str(p)) from None


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _allowed(error: jsonschema.ValidationError) -> str:
    v, s = error.validator, error.schema
    if v == "enum":
        return ", ".join(map(str, s["enum"]))
    if v == "type":
        return f"a value of type {s['type']}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        ops = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return f"a number {ops[v]} {s[v]}"
    if v == "required":
        return "this key must be present"
    if v == "additionalProperties":
        return "one of " + ", ".join(sorted(s.get("properties", {}))) if s.get("properties") else ""
    if v in ("minItems", "uniqueItems"):
        return "a non-empty list of distinct values"
    return ""


def validate(data: Any, schema_name: str, file: str | Path) -> None:
    """Validate ``data`` against a schema; raise a one-line UserError for the first problem."""
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = sorted(
        validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors) or errors[0]
    # descend into the most specific sub-error (allOf/$ref produce nested contexts)
    while err.context:
        err = sorted(err.context, key=lambda e: len(list(e.absolute_path)))[-1]
    key = _key_path(err)
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        key = f"{key}.{missing}" if key != "(top level)" else missing
        raise UserError("missing key", file=str(file), key=key, allowed=_allowed(err))
    if err.validator == "additionalProperties":
        raise UserError(
            f"unknown key ({err.message})", file=str(file), key=key, allowed=_allowed(err)
        )
    value = err.instance if not isinstance(err.instance, (dict, list)) else None
    raise UserError(
        f"invalid value: {err.message}",
        file=str(file),
        key=key,
        value=value,
        allowed=_allowed(err) or None,
    )


def load_validated(path: str | Path, schema_name: str) -> dict[str, Any]:
    """Read a YAML file and validate it against ``workflow/schemas/<schema_name>.schema.yaml``."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UserError(
            "expected a mapping at the top level",
            file=str(path),
            value=type(data).__name__,
            allowed="a YAML mapping of keys to values",
        )
    validate(data, schema_name, path)
    return data


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
        model_raw: the validated model mapping.
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

    def model(self, *, mapper: bool = True):
        """The :class:`dse.model.Model` of this run; with ``mapper`` each design's runtime
        tiles are chosen per kernel class (sweeps and searches range over hardware only)."""
        from dse.model import Model

        return Model(
            self.platform, self.workload, tile_divisors=self.tile_divisors if mapper else None
        )


def resolve(config_path: Path, ref: str) -> Path:
    """Resolve a path written in a config file relative to that file's folder."""
    p = Path(ref)
    return p if p.is_absolute() else (config_path.parent / p)


def load_config(path: str | Path) -> Config:
    """Load and validate the main config and the platform and model files it names."""
    path = Path(path)
    raw = load_validated(path, "config")
    platform_raw = load_validated(resolve(path, raw["platform"]), "platform")
    model_raw = load_validated(resolve(path, raw["model"]), "model")
    cfg = Config(path=path, raw=raw, platform_raw=platform_raw, model_raw=model_raw)
    # semantic checks that a schema cannot express
    cfg.platform  # noqa: B018  (builds and checks the platform)
    from dse.space import check_hardware_only, check_space

    for section in ("sweep", "search"):
        space = (raw.get(section) or {}).get("space")
        if isinstance(space, dict):
            check_hardware_only(space, file=str(path), key=f"{section}.space")
    if "space" in raw.get("sweep", {}):
        check_space(raw["sweep"]["space"], cfg.platform, file=str(path), key="sweep.space")
    return cfg
