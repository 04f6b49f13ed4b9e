# The model against published designs (docs/accuracy.md) and its constants fitted to the build
# figures with their held-out error (docs/calibration.md): independent of the run's config apart
# from the plot resolution and `calibration.fit` (false: predict only, no refit -- the refit's
# leave-one-out takes about 30 s of one core, 2 min before its grid trials ran batched: the joint
# clock search and 12 latency rows); reruns when the designs, boards or models change.
CALIBRATION_FIT = bool(config.get("calibration", {}).get("fit", True))
CALIBRATION_DESIGNS = os.path.join(workflow.basedir, "configs", "calibration", "designs.yaml")


rule calibration:
    input:
        designs=CALIBRATION_DESIGNS,
        power=os.path.join(workflow.basedir, "configs", "calibration", "power.yaml"),
        boards=glob.glob(os.path.join(workflow.basedir, "configs", "platforms", "*.yaml")),
        models=glob.glob(os.path.join(workflow.basedir, "configs", "calibration", "models", "*.yaml")),
    output:
        table="results/calibration/calibration.parquet",
        csv="results/calibration/calibration.csv",
        markdown=report(
            "results/calibration/calibration.md",
            caption="../report/calibration_table.rst",
            category="Calibration",
        ),
        plot=report(
            "results/calibration/calibration.png",
            caption="../report/calibration.rst",
            category="Calibration",
        ),
        resources="results/calibration/resources.csv",
        as_built="results/calibration/as_built.csv",
        power="results/calibration/power.csv",
    params:
        out=lambda w, output: os.path.dirname(output.table),
        dpi=DPI,
        fit="" if CALIBRATION_FIT else " --no-fit",
    log:
        "results/logs/calibration.log",
    benchmark:
        "results/benchmarks/calibration.tsv"
    resources:
        mem_mb=MEM_MB["calibration"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse calibrate --designs {input.designs} --power {input.power} --dpi {params.dpi}{params.fit} --out {params.out} > {log} 2>&1"
