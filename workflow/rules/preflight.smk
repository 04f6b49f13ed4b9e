# Before Snakemake reads any configuration or prints anything (included by the Snakefile ahead
# of `configfile:`): a real run takes the run lock, refuses links under results/ that lead out of
# the working folder, and configs/config.yaml is read with dse's loader, so a bad file is one
# line `dse: configuration error: ...` and exit code 2, not Snakemake's trace.
#
# Snakemake reads every config file through YTE, which evaluates `?` values as Python when the
# file sets `__use_yte__: true`. dse evaluates no config value as code, so such a file is
# refused here: configs/config.yaml before Snakemake reads it (nothing is evaluated); a
# --configfile only after Snakemake has read it (its command line is parsed before the Snakefile),
# so the message says so (docs/safety: a --configfile is trusted like the Snakefile itself).
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


YTE_KEY = "__use_yte__"  # Snakemake's switch for YTE templating (code in `?` values)


def _refuse_templating(path, data, *, evaluated):
    """A config file that asks Snakemake to evaluate its values as Python is refused."""
    if isinstance(data, dict) and YTE_KEY in data:
        when = (
            "Snakemake evaluated it while reading its command line, before dse could refuse it; "
            if evaluated
            else ""
        )
        refuse(
            f"{path}: key '{YTE_KEY}': {data[YTE_KEY]!r} asks Snakemake to evaluate the file's "
            f"values as Python (YTE templating); {when}allowed: plain YAML values (remove the key)"
        )


def _preflight_config():
    """Read configs/config.yaml as dse reads every input (Snakemake reads it next)."""
    for path in workflow.config_settings.configfiles:
        try:
            _refuse_templating(path, read_yaml(path), evaluated=True)
        except UserError as exc:
            refuse(str(exc))
    if not os.path.lexists(DEFAULT_CONFIG):
        if not workflow.config_settings.configfiles:
            refuse(f"{DEFAULT_CONFIG}: file does not exist; allowed: the run config, or --configfile FILE")
        return
    try:
        data = read_yaml(DEFAULT_CONFIG)
    except UserError as exc:
        refuse(str(exc))
    _refuse_templating(DEFAULT_CONFIG, data, evaluated=False)
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
