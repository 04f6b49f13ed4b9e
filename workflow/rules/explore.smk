# The interactive explorer: results/explore.html, one self-contained page (plotly.js inlined) with
# the front over a binned sample of the feasible cloud, every design's figures on hover, filters,
# and on click a design's per-kernel breakdown, resources per SLR and its export command.


# memory: EXPLORE_BASE_MB + EXPLORE_KB_PER_DESIGN x the designs of one shard (every column of one
# result file is read at once, for the rows of the sample), x MEM_MARGIN. Measured with
# /usr/bin/time -v, 2026-12-07, default config (shards of 746,496 designs): 1,134 MB peak
EXPLORE_BASE_MB, EXPLORE_KB_PER_DESIGN = 300.0, 1.15
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
