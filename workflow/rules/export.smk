rule export:
    input:
        selected="results/selected.parquet",
        platform=PLATFORM,
    output:
        "results/hls/index.json",
    params:
        config=MERGED_CONFIG,
        out=lambda w, output: os.path.dirname(output[0]),
    log:
        "results/logs/export.log",
    benchmark:
        "results/benchmarks/export.tsv"
    resources:
        mem_mb=MEM_MB["export"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse export --config {params.config} --in {input.selected} --out {params.out} > {log} 2>&1"


rule summary:
    input:
        selected="results/selected.parquet",
        front="results/pareto/front.parquet",
        exports="results/hls/index.json",
    output:
        report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    params:
        config=MERGED_CONFIG,
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    resources:
        mem_mb=MEM_MB["summary"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse summary --config {params.config} --selected {input.selected} --front {input.front} "
        "--exports {input.exports} --out {output} > {log} 2>&1"
