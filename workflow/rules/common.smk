# Shared set-up: validate the configuration before any job runs, and helpers for the rules.
import hashlib
import os
import json
import sys
from pathlib import Path

from snakemake.utils import validate

from dse.config import load_config
from dse.errors import UserError


validate(config, schema="../schemas/config.schema.yaml")

# the config file dse reads (the last --configfile wins, as in Snakemake)
CONFIGFILE = str(workflow.configfiles[-1]) if workflow.configfiles else "configs/config.yaml"
try:
    DSE = load_config(CONFIGFILE)  # platform and model files, semantic checks
except UserError as exc:
    sys.exit(f"dse: configuration error: {exc}")

SEED_CONSTANTS = os.path.join(workflow.basedir, "configs", "seed_roofline.yaml")
PLATFORM = str(DSE.platform_path)
MODEL = str(DSE.model_path)
N_SHARDS = int(config["sweep"]["shards"])
SHARDS = expand("results/sweep/shard-{shard}.parquet", shard=range(N_SHARDS))
# Optuna search workers on one study (none when the config has no search section)
N_WORKERS = int(config.get("search", {}).get("workers", 2)) if "search" in config else 0
SEARCH = expand("results/search/worker-{worker}.parquet", worker=range(N_WORKERS))
RESULTS = SHARDS + SEARCH


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
    ]


PLOTS = ["pareto", "breakdown", "roofline_designs", "resources", "hbm"]
