# The interactive explorer: results/explore.html, one self-contained page (plotly.js inlined) with
# the front over a binned sample of the feasible cloud, every design's figures on hover, filters,
# and on click a design's per-kernel breakdown, resources per SLR and its export command.


# memory: measured peak, EXPLORE_BASE_MB + EXPLORE_KB_PER_DESIGN x the designs of the largest
# result file read at once (every column of one shard, for the rows of the sample), x MEM_MARGIN
EXPLORE_BASE_MB, EXPLORE_KB_PER_DESIGN = 330.0, 0.45
MEM_MB["explore"] = _rounded(EXPLORE_BASE_MB + EXPLORE_KB_PER_DESIGN * SHARD_DESIGNS / 1024.0)


rule explore:
    input:
        cloud=RESULTS,
        front="results/pareto/front.parquet",
        selected="results/selected.parquet",
    output:
        report(
            "results/explore.html",
            caption="../report/explore.rst",
            category="Pareto",
        ),
    params:
        config=MERGED_CONFIG,
    log:
        "results/logs/explore.log",
    benchmark:
        "results/benchmarks/explore.tsv"
    resources:
        mem_mb=MEM_MB["explore"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse explore --config {params.config} --cloud {input.cloud} --front {input.front} "
        "--selected {input.selected} --out {output} > {log} 2>&1"
