# dse: design-space exploration of the smolVLA vision encoder on an Alveo U280.
# `snakemake --cores 8` runs: roofline -> sweep shards -> Pareto front -> selection -> HLS export,
# plots and summary. All logic lives in the `dse` package; every rule is one `dse` call.
# Every job reads results/config.yaml: configs/config.yaml merged with --configfile and --config,
# validated before any job (workflow/rules/common.smk). profiles/default makes a rerun resume.
from snakemake.utils import min_version

min_version("9.0")


# the run lock and dse's own reading of configs/config.yaml, before Snakemake reads it
include: "workflow/rules/preflight.smk"


configfile: "configs/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/roofline.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/pareto.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/explore.smk"
include: "workflow/rules/calibration.smk"


rule all:
    input:
        all_outputs(),
        "results/explore.html",
    default_target: True
