rule sweep:
    input:
        platform=PLATFORM,
        model=MODEL,
    output:
        "results/sweep/shard-{shard}.parquet",
    params:
        config=MERGED_CONFIG,
        shards=N_SHARDS,
        settings=section_hash("sweep", "clock"),
    wildcard_constraints:
        shard=r"\d+",
    log:
        "results/logs/sweep/shard-{shard}.log",
    benchmark:
        "results/benchmarks/sweep/shard-{shard}.tsv"
    resources:
        mem_mb=MEM_MB["sweep"],
    conda:
        "../envs/dse.yaml"
    shell:
        "dse sweep --config {params.config} --shard {wildcards.shard}/{params.shards} "
        "--out {output} > {log} 2>&1"
