# Before Snakemake reads any configuration or prints anything (included by the Snakefile ahead
# of `configfile:`): a real run takes the run lock, refuses links under results/ that lead out of
# the working folder, and configs/config.yaml is read with dse's loader, so a bad file is one
# line `dse: configuration error: ...` and exit code 2, not Snakemake's trace.
import os
import sys

from dse.config import read_yaml
from dse.errors import UserError
from dse import runguard

DEFAULT_CONFIG = "configs/config.yaml"
# held (fcntl.flock) by the main snakemake process of a real run; the kernel drops it on any exit
RUN_LOCK = ".snakemake/dse-run.lock"


def refuse(message, *, kind="configuration error"):
    """Print one line and stop with exit code 2 (dse's code for bad input)."""
    print(f"dse: {kind}: {message}" if kind else f"dse: {message}", file=sys.stderr)
    sys.exit(2)


def _preflight_config():
    """Read configs/config.yaml as dse reads every input (Snakemake reads it next)."""
    if not os.path.lexists(DEFAULT_CONFIG):
        if not workflow.config_settings.configfiles:
            refuse(f"{DEFAULT_CONFIG}: file does not exist; allowed: the run config, or --configfile FILE")
        return
    try:
        data = read_yaml(DEFAULT_CONFIG)
    except UserError as exc:
        refuse(str(exc))
    if not isinstance(data, dict):
        refuse(
            f"{DEFAULT_CONFIG}: expected a mapping at the top level (got "
            f"{type(data).__name__}); allowed: a YAML mapping of keys to values"
        )


if workflow.is_main_process and runguard.is_real_run(sys.argv[1:]):
    try:
        runguard.take_run_lock(RUN_LOCK)
        runguard.refuse_outside_links("results")
    except UserError as exc:
        refuse(str(exc), kind=None)
_preflight_config()
