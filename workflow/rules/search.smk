rule pareto_sweep:
    input:
        SHARDS,
    output:
        "results/pareto/sweep_front.parquet",
    params:
        config=MERGED_CONFIG,
        settings=section_hash("objectives"),
    log:
        "results/logs/pareto_sweep.log",
    benchmark:
        "results/benchmarks/pareto_sweep.tsv"
    resources:
        mem_mb=MEM_MB["pareto_sweep"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse pareto --config {params.config} --in {input} --out {output} > {log} 2>&1"


rule search:
    input:
        front="results/pareto/sweep_front.parquet",
        platform=PLATFORM,
        model=MODEL,
    output:
        "results/search/worker-{worker}.parquet",
    params:
        config=MERGED_CONFIG,
        settings=section_hash("objectives", "search", "clock"),
    wildcard_constraints:
        worker=r"\d+",
    log:
        "results/logs/search/worker-{worker}.log",
    benchmark:
        "results/benchmarks/search/worker-{worker}.tsv"
    resources:
        mem_mb=MEM_MB["search"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse search --config {params.config} --worker {wildcards.worker} "
        "--warm-start {input.front} --out {output} > {log} 2>&1"


rule refine:
    input:
        front="results/pareto/sweep_front.parquet",
        search=SEARCH,
        platform=PLATFORM,
        model=MODEL,
    output:
        "results/search/refine.parquet",
    params:
        config=MERGED_CONFIG,
        settings=section_hash("objectives", "search", "clock"),
    log:
        "results/logs/refine.log",
    benchmark:
        "results/benchmarks/refine.tsv"
    resources:
        mem_mb=MEM_MB["refine"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse refine --config {params.config} --in {input.front} {input.search} "
        "--out {output} > {log} 2>&1"


rule search_quality:
    input:
        platform=PLATFORM,
        model=MODEL,
    output:
        json="results/bench/search_quality.json",
        plot=report(
            "results/bench/convergence.png",
            caption="../report/convergence.rst",
            category="Search quality",
        ),
    params:
        config=MERGED_CONFIG,
    log:
        "results/logs/search_quality.log",
    benchmark:
        "results/benchmarks/search_quality.tsv"
    resources:
        mem_mb=MEM_MB["search_quality"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse search-quality --config {params.config} --out {output.json} "
        "--plot {output.plot} > {log} 2>&1"
