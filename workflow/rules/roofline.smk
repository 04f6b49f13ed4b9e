rule roofline:
    input:
        platform=PLATFORM,
        model=MODEL,
        seed=SEED_CONSTANTS,
    output:
        table="results/roofline/kernels.parquet",
        plot=report(
            "results/roofline/roofline.png",
            caption="../report/roofline.rst",
            category="Roofline",
        ),
        seed=report(
            "results/roofline/roofline_seed.png",
            caption="../report/roofline_seed.rst",
            category="Roofline",
        ),
    params:
        config=MERGED_CONFIG,
    log:
        "results/logs/roofline.log",
    benchmark:
        "results/benchmarks/roofline.tsv"
    conda:
        "../envs/dse.yaml"
    shell:
        "dse roofline --config {params.config} --out {output.table} > {log} 2>&1"
