rule plots:
    input:
        cloud=RESULTS,
        front="results/pareto/front.parquet",
        selected="results/selected.parquet",
        roofline="results/roofline/kernels.parquet",
    output:
        pareto=report("results/plots/pareto.png", caption="../report/pareto.rst", category="Pareto"),
        breakdown=report(
            "results/plots/breakdown.png", caption="../report/breakdown.rst", category="Selected designs"
        ),
        roofline=report(
            "results/plots/roofline_designs.png",
            caption="../report/roofline_designs.rst",
            category="Selected designs",
        ),
        resources=report(
            "results/plots/resources.png", caption="../report/resources.rst", category="Selected designs"
        ),
        hbm=report("results/plots/hbm.png", caption="../report/hbm.rst", category="Selected designs"),
        energy=report("results/plots/energy.png", caption="../report/energy.rst", category="Pareto"),
        power=report(
            "results/plots/power.png", caption="../report/power.rst", category="Selected designs"
        ),
    params:
        config=MERGED_CONFIG,
        out=lambda w, output: os.path.dirname(output.pareto),
        dpi=DPI,
    log:
        "results/logs/plots.log",
    benchmark:
        "results/benchmarks/plots.tsv"
    resources:
        mem_mb=MEM_MB["plots"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse plot --config {params.config} --cloud {input.cloud} --front {input.front} "
        "--selected {input.selected} --roofline {input.roofline} --dpi {params.dpi} "
        "--out {params.out} > {log} 2>&1"
