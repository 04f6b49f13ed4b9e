rule pareto:
    input:
        RESULTS,
    output:
        "results/pareto/front.parquet",
    params:
        config=MERGED_CONFIG,
        settings=section_hash("objectives"),
    log:
        "results/logs/pareto.log",
    benchmark:
        "results/benchmarks/pareto.tsv"
    resources:
        mem_mb=MEM_MB["pareto"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse pareto --config {params.config} --in {input} --out {output} > {log} 2>&1"


rule select:
    input:
        front="results/pareto/front.parquet",
        results=RESULTS,
    output:
        "results/selected.parquet",
    params:
        config=MERGED_CONFIG,
        settings=section_hash("objectives", "select"),
    log:
        "results/logs/select.log",
    benchmark:
        "results/benchmarks/select.tsv"
    resources:
        mem_mb=MEM_MB["select"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse select --config {params.config} --in {input.front} --all {input.results} "
        "--out {output} > {log} 2>&1"
