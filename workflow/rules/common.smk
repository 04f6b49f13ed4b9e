# Shared set-up: merge and validate the configuration before any job runs, the run lock, and
# helpers for the rules.
#
# Every job reads one file, results/config.yaml: the config Snakemake merged (the default
# configs/config.yaml, then each --configfile, then --config key=value). A relative `platform:` or
# `model:` path is resolved against the folder of the file that set it (the working folder for
# --config) and written relative to results/ (absolute when it lies outside the working folder).
# The merged config is validated (schema and dse's checks, platform and model files included) when
# the workflow is parsed, also under `snakemake -n`; it is written to results/config.yaml only
# by a real run, while it holds the run lock, and only when its content changed. It is a param, not
# an input: each rule reruns on a hash of the sections it reads (section_hash), not on its mtime.
import glob
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from snakemake.utils import validate

from dse.config import check_named, load_config, read_yaml
from dse.errors import UserError
from dse.secrets import has_secret
from dse.store import atomic_write_text


MERGED_CONFIG = "results/config.yaml"
# RUN_LOCK, refuse() and the run lock itself: workflow/rules/preflight.smk


def _shown(path):
    """A path as shown in messages: relative inside the working folder, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def _config_layers():
    """(label, folder, mapping) of each layer Snakemake merged into `config`, first to last."""
    settings = workflow.config_settings
    cli_files = [Path(f) for f in settings.configfiles]
    cli = {os.path.abspath(f) for f in cli_files}
    layers = []
    if not settings.replace_workflow_config:  # the Snakefile's `configfile:`, when present
        for f in workflow.configfiles:
            if os.path.abspath(f) not in cli:
                layers.append((_shown(f), Path(f).parent, read_yaml(f)))
    for f in cli_files:
        layers.append((_shown(f), f.parent, read_yaml(f)))
    if settings.config:
        layers.append(("--config", Path.cwd(), dict(settings.config)))
    return layers


def _file_ref(layers, key):
    """The path `key` names, resolved against the folder of the last layer that set it."""
    value = config.get(key)
    if not isinstance(value, str):
        return value  # the schema check reports it
    folder = next((d for _, d, m in reversed(layers) if isinstance(m, dict) and key in m), Path("."))
    path = Path(value) if os.path.isabs(value) else folder / value
    return os.path.abspath(path)


def _relative_to_results(path):
    """A path as written in results/config.yaml: relative to results/ inside the working folder."""
    if not isinstance(path, str):
        return path
    if os.path.commonpath([path, os.getcwd()]) == os.getcwd():
        return os.path.relpath(path, os.path.abspath(os.path.dirname(MERGED_CONFIG)))
    return path


def _merged_config():
    """Validate the merged config; return (text of results/config.yaml, platform, model paths)."""
    layers = _config_layers()
    label = " + ".join(name for name, _, _ in layers) or "(no config file)"
    refs = {key: _file_ref(layers, key) for key in ("platform", "model")}
    merged = {**config, **{k: v for k, v in refs.items() if v is not None}}
    # dse's own checks (schema, platform and model files, semantic checks), one line per problem
    with tempfile.TemporaryDirectory(prefix="dse-config-") as tmp:
        probe = os.path.join(tmp, "config.yaml")
        Path(probe).write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
        try:
            cfg = load_config(probe)
            check_named(cfg.raw, file=probe)  # ids a run of this config cannot give
            if "search" in merged:  # the search space and storage too (imports Optuna: ~1 s)
                from dse.search import settings_from_config

                settings_from_config(cfg)
        except UserError as exc:
            raise UserError(str(exc).replace(probe, f"config ({label})")) from None
    written = {**merged, **{k: _relative_to_results(v) for k, v in refs.items() if v is not None}}
    text = (
        f"# Written by the workflow from {label}; edit those files, not this one.\n"
        + yaml.safe_dump(written, sort_keys=False)
    )
    return text, refs["platform"], refs["model"]


try:
    MERGED_TEXT, _PLATFORM_ABS, _MODEL_ABS = _merged_config()
except UserError as exc:
    refuse(str(exc))
except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # what no check foresaw
    refuse(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
try:
    validate(config, schema="../schemas/config.schema.yaml")
except Exception as exc:  # noqa: BLE001  (Snakemake's own check, after dse's: one line too)
    refuse(" ".join(str(exc).split())[:500])


SEED_CONSTANTS = os.path.join(workflow.basedir, "configs", "seed_roofline.yaml")
PLATFORM = _shown(_PLATFORM_ABS)
MODEL = _shown(_MODEL_ABS)
N_SHARDS = int(config["sweep"]["shards"])
SHARDS = expand("results/sweep/shard-{shard}.parquet", shard=range(N_SHARDS))
# Optuna search workers on one study (none when the config has no search section)
N_WORKERS = int(config.get("search", {}).get("workers", 2)) if "search" in config else 0
SEARCH = expand("results/search/worker-{worker}.parquet", worker=range(N_WORKERS))
# local refinement of the sweep + search front (workflow/rules/search.smk)
REFINE = ["results/search/refine.parquet"] if N_WORKERS else []
RESULTS = SHARDS + SEARCH + REFINE
# PNG resolution of every figure (config.schema.yaml: plots.dpi)
DPI = config.get("plots", {}).get("dpi", 150)


def section_hash(*keys):
    """Hash of config sections: a rule reruns when the settings it reads change."""
    blob = json.dumps([config.get(k) for k in keys], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def all_outputs():
    return [
        "results/roofline/kernels.parquet",
        "results/pareto/front.parquet",
        "results/selected.parquet",
        "results/hls/index.json",
        "results/summary.md",
        expand("results/plots/{plot}.png", plot=PLOTS),
        "results/calibration/calibration.md",
        "results/calibration/calibration.png",
    ]


PLOTS = ["pareto", "breakdown", "roofline_designs", "resources", "hbm"]


# ---- the run lock, stale temporaries, the merged config file ---------------------------------


def _take_run_lock():
    """Hold RUN_LOCK for the life of this process, or stop: another run works in this folder.

    Snakemake's own lock is off (`nolock` in profiles/default): its lock files outlive a killed
    run. A flock is released by the kernel however the process ends, SIGKILL included. A real
    run took it already in preflight.smk (before Snakemake printed anything); this is for runs
    started otherwise (the Python API).
    """
    try:
        fd = runguard.take_run_lock(RUN_LOCK)
        runguard.refuse_outside_links("results")
    except UserError as exc:
        refuse(str(exc), kind=None)
    return fd


def _journal_lock():
    """The lock Optuna keeps beside this run's journal file (inside the working folder), if any."""
    journal = str(config.get("search", {}).get("storage", "results/search/study.journal"))
    if "://" in journal:
        return None  # an RDB: nothing on disk
    lock = os.path.abspath(f"{journal}.lock")
    return lock if os.path.commonpath([lock, os.getcwd()]) == os.getcwd() else None


def _remove_stale_temporaries(root="results"):
    """Remove what killed runs left: `.NAME.*.tmp` files and folders, the Optuna journal lock.

    Safe only while holding the run lock: no other job of this folder is running then. A link
    is removed itself, never what it leads to; what is reported is what was removed.
    """
    lock = _journal_lock()  # Optuna would wait 30 s for a killed worker's lock to go stale
    removed, failed = runguard.remove_stale_temporaries(root, [lock] if lock else [])
    if removed:
        print(f"dse: removed {len(removed)} stale temporary file(s) of an interrupted run", file=sys.stderr)
    for what in failed:
        print(f"dse: warning: could not remove the stale temporary {what}", file=sys.stderr)


def _write_merged_config():
    """Write results/config.yaml atomically, only when its content changed. The jobs read the
    storage URL from it, so when that URL holds a password the file is readable by its owner
    only (mode 0600); docs/inputs.md shows how to keep the password out of the URL."""
    path = Path(MERGED_CONFIG)
    secret = has_secret(str(config.get("search", {}).get("storage", "")))
    mode = 0o600 if secret else None
    if path.is_file() and not path.is_symlink() and path.read_text(encoding="utf-8") == MERGED_TEXT:
        if secret:
            os.chmod(path, 0o600)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, MERGED_TEXT, mode=mode)


_RUN = {}  # the open lock file of this run


onstart:
    # a real run of the main process (not -n, --lint, --report, nor a cluster job)
    if workflow.is_main_process:
        _RUN["lock"] = _take_run_lock()
        _remove_stale_temporaries()
        _write_merged_config()
        limit_local_memory()  # workflow/rules/resources.smk
